/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * hello.c -- the smallest program: the start-up benchmark's guest.
 */
#include <stdio.h>

int main(void)
{
    puts("hello");
    return 0;
}
