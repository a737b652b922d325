"""The message pipeline: store (inbox), queue (dispatch, routing), guard (lease), answer (turns,
backlog, attempts, failures, setaside, progress), deliver (outbox, delivery), and the
beat-driven loops (polling, sweeper)."""
