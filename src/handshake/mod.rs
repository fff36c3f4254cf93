//! The distribution handshake. OWNED BY THE HANDSHAKE WORK. Stub.
