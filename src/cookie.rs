//! Cookies: OTP rules for ~/.erlang.cookie. OWNED BY THE HANDSHAKE WORK. Stub.
