"""Passages: everything the lane's devices say about one vehicle, held against its advance
declaration, decided with reasons in the officer's words.

- `observation.py`: what a kind makes of one stored reading (its keys, what it said, its findings);
- `declarations.py`: advance declarations (wire model, store, file);
- `correlate.py`: which passage a reading belongs to;
- `decide.py`: the rules, a decision and its reasons;
- `book.py`: the passage tables, worked on inside the store's transactions;
- `service.py`: the runtime's side (deadline timer, publishing, declarations over MQTT).

The package names no device kind: each kind's `observe` (in its own package) says what its
readings mean for a passage.
"""
