package core

// Version is zbauth's version. The C header's ZBAUTH_VERSION macros, the
// Python and Node package versions and the Wasm module report the same
// string; tests on each surface check that they agree.
const Version = "0.1.0"
