//! Test support: in-process servers, fault injection and the latency emulator.
