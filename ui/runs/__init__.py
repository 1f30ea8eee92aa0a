"""Training in the background, without Streamlit: what ui.runner (the pages' session slots) and
ui.analysis (large at-init views) build on. Importable from scripts and tests with no Streamlit.

- states:    RunState, the life of a run (queued -> running -> done / stopped / diverged / failed)
- gate:      the server's admission policy (FifoGate: at most N at a time, in arrival order)
- processes: the multiprocessing context for child processes (and the one patch it needs)
- backends:  where a run trains: a child process (default) or a thread of the server
- training:  TrainingRun (one run, thread-safe) and RunView (a consistent snapshot to draw)
- sessions:  runs end with the browser session that started them
"""
