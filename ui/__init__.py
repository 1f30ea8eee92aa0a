"""Streamlit glue shared by the pages. Importing `ui` imports nothing, so the Streamlit-free modules
(ui.runs, ui.names, ui.text, ui.errors.message, ui.worker) serve scripts, tests and the training
processes without Streamlit.

- shell:     the Screen the sidebar resolved this run (app.py sets it, pages read it), CSS, threads
- state:     the sidebar's controls, generated from rnnlab.config.FIELDS and kept in sync with the URL
- names:     the pages and the session keys more than one module uses
- widgets:   what the Lab and Compare both draw (charts, a run's progress, the live panel, ...)
- lab, theory, gallery, compare/: the pages' sections (compare: link, setup, history_mode, sides)
- analysis:  the network at initialisation (InitView), cached, or computed in a child process
- runner:    a page's training runs in its session slots; the runs themselves: ui.runs
- history:   this session's finished runs, plus exported runs opened from files
- errors, text: one line for a person instead of a traceback; a person's text shown as text
- worker:    the child processes' entry points
"""
