//! PostgreSQL's ereport functions, which pgrx keeps out of its bindings, and the extension's one
//! way to log. The extension needs two reports pgrx's own cannot make: a server-only LOG without
//! its statement (the read audit, the denials) and an ERROR with a SQLSTATE PostgreSQL does not
//! define (PT404, PT409). pgrx's `log!` is not used: it sends LOG lines to a client that asks
//! for them, and its errfinish runs CHECK_FOR_INTERRUPTS outside any guard.

use std::ffi::{CString, c_char, c_int};

use pgrx::pg_sys;

unsafe extern "C-unwind" {
    pub fn errstart(elevel: c_int, domain: *const c_char) -> bool;
    pub fn errcode(sqlerrcode: c_int) -> c_int;
    pub fn errmsg_internal(fmt: *const c_char, ...) -> c_int;
    pub fn errdetail(fmt: *const c_char, ...) -> c_int;
    pub fn errhint(fmt: *const c_char, ...) -> c_int;
    pub fn errhidestmt(hide_stmt: bool) -> c_int;
    pub fn errhidecontext(hide_ctx: bool) -> c_int;
    pub fn errfinish(filename: *const c_char, lineno: c_int, funcname: *const c_char);
}

/// Writes `message` to the server log only (never to the client, whatever its
/// client_min_messages), without the statement or its context. Only role names, UUIDs and fixed
/// text may go into it: never anything from a credential.
pub fn log_server_only(message: &str) {
    let Ok(message) = CString::new(message) else {
        return;
    };
    // SAFETY: a LOG report returns, but errfinish may throw from CHECK_FOR_INTERRUPTS (a cancel,
    // a statement timeout) and errstart from out of memory: the guard turns either into a Rust
    // panic that unwinds these frames, dropping `message`, to pgrx's guard around the call.
    unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            if errstart(pg_sys::LOG_SERVER_ONLY as c_int, std::ptr::null()) {
                errmsg_internal(c"%s".as_ptr(), message.as_ptr());
                errhidestmt(true);
                errhidecontext(true);
                errfinish(
                    c"elog.rs".as_ptr(),
                    line!() as c_int,
                    c"credential_vault".as_ptr(),
                );
            }
        })
    }
}
