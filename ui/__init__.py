"""Streamlit glue shared by the pages (module map in ui/README section of this docstring below).

Importing `ui` imports nothing: the Streamlit-free parts (ui.runs, ui.names, ui.text, ui.errors'
messages, ui.worker) stay usable from scripts, tests and the training processes without Streamlit.
"""
