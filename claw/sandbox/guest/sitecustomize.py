# Imported by every Python process in a claw sandbox (PYTHONPATH): starts its heartbeat.
try:
    import claw_ipc

    claw_ipc._start_heartbeat()
except Exception:
    pass
