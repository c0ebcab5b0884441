//! Unit tests of encoding, labels and the reshard computation.
