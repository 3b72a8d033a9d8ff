/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * lua.c -- the static Lua interpreter of the `lua` system image
 * (zerocloud/images/__init__.py links it with Debian's liblua5.X.a).
 *
 *   lua SCRIPT [ARG...]    run SCRIPT (a first line starting with # is
 *                          skipped, so #! scripts work); "-" is stdin
 *   lua -e CODE [ARG...]   run CODE
 *   lua                    run stdin
 *
 * As the reference interpreter does, the global `arg` holds the script at
 * arg[0], its arguments from arg[1] and the interpreter at negative
 * indexes, and the chunk gets the arguments as `...`.  An error prints
 * "lua: " and a traceback on stderr and exits 1.
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int main(int argc, char **argv)
{
    const char *code = NULL, *script = NULL;
    int first = 1, status, i, n, handler;
    lua_State *L = luaL_newstate();

    if (L == NULL) {
        fputs("lua: not enough memory for a state\n", stderr);
        return 1;
    }
    luaL_openlibs(L);
    if (argc > 2 && strcmp(argv[1], "-e") == 0) {
        code = argv[2];
        first = 3;
    } else if (argc > 1) {
        script = strcmp(argv[1], "-") == 0 ? NULL : argv[1];
        first = 2;
    }
    lua_createtable(L, argc - first, first);
    for (i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - first + 1);
    }
    lua_setglobal(L, "arg");

    lua_pushcfunction(L, traceback);
    handler = lua_gettop(L);
    if (code != NULL)
        status = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
    else
        status = luaL_loadfile(L, script);
    if (status == LUA_OK) {
        for (n = 0, i = first; i < argc; i++, n++)
            lua_pushstring(L, argv[i]);
        status = lua_pcall(L, n, 0, handler);
    }
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "lua: %s\n", msg ? msg : "(error object is not a string)");
        lua_close(L);
        return 1;
    }
    lua_close(L);
    return 0;
}
