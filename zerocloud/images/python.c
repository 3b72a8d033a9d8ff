/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * python.c -- the main of the static Python interpreter of the `python`
 * system image (zerocloud/images/__init__.py links it with libpython3.X.a).
 *
 * Debian compiles most of the standard library's C modules into
 * libpython3.X.a, but ships a few as shared libraries (lib-dynload), which
 * a static interpreter in the sandbox cannot load.  One of them,
 * _contextvars, only exposes types that live in the interpreter core, and
 * decimal, fractions and statistics need it; it is compiled in here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *copy_context(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return (PyObject *)PyContext_CopyCurrent();
}

static PyMethodDef contextvars_methods[] = {
    {"copy_context", copy_context, METH_NOARGS,
     "copy_context() -> a copy of the current Context."},
    {NULL, NULL, 0, NULL},
};

static int contextvars_exec(PyObject *m)
{
    if (PyModule_AddType(m, &PyContext_Type) < 0 ||
        PyModule_AddType(m, &PyContextVar_Type) < 0 ||
        PyModule_AddType(m, &PyContextToken_Type) < 0)
        return -1;
    return 0;
}

static PyModuleDef_Slot contextvars_slots[] = {
    {Py_mod_exec, contextvars_exec},
    {0, NULL},
};

static struct PyModuleDef contextvars_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_contextvars",
    .m_doc = "Context variables (compiled into zerocloud's static python).",
    .m_size = 0,
    .m_methods = contextvars_methods,
    .m_slots = contextvars_slots,
};

static PyObject *init_contextvars(void)
{
    return PyModuleDef_Init(&contextvars_module);
}

int main(int argc, char **argv)
{
    if (PyImport_AppendInittab("_contextvars", init_contextvars) < 0)
        return 120;
    return Py_BytesMain(argc, argv);
}
