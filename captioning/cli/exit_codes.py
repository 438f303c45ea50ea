"""The `captioning` command's exit codes, defined once (README, "Failure behaviour")."""

DONE = 0
SOME_SKIPPED = 1  # some input files were bad and skipped; the rest were done
USAGE_ERROR = 2  # a bad file, field or flag the user gave: one line naming it
SYSTEM_ERROR = 3  # the system refused a read or write (disk full, read-only, permission): one line
INTERNAL_ERROR = 70  # a bug (sysexits EX_SOFTWARE): one line, the traceback with --debug
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
