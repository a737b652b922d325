"""The message pipeline: store (inbox), queue (dispatch, routing), guard (lease), answer (turns,
failures, progress), deliver (outbox, delivery), and the beat-driven loops (polling, sweeper)."""
