//! PostgreSQL's ereport functions, which pgrx keeps out of its bindings: the extension needs two
//! reports pgrx's own cannot make, a server-only LOG without its statement (the read audit) and
//! an ERROR with a SQLSTATE PostgreSQL does not define (PT404, PT409).

use std::ffi::{c_char, c_int};

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
