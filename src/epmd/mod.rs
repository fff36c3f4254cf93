//! EPMD: wire messages, client, embedded server. OWNED BY THE EPMD WORK. Stub.
