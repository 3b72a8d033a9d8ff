/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * cgi.c -- answers as a CGI program (a message/cgi stdout); used by
 * test/functional/test_open.py.
 *
 * With QUERY_STRING "missing" it answers 404; with "cookie" it also tries
 * headers a job may not set (Set-Cookie, X-Nexe-Status); with "broken" it
 * writes no header block at all; with "nocontent" it answers 204 and
 * still writes a body (a forged second answer).  Otherwise 200
 * with a text/plain body: the CGI variables it was given, one per line,
 * then the number of bytes on stdin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *names[] = {
    "GATEWAY_INTERFACE", "SERVER_SOFTWARE", "REQUEST_METHOD", "REQUEST_URI",
    "PATH_INFO", "QUERY_STRING", "LOCAL_OBJECT", "LOCAL_PATH_INFO",
    "LOCAL_CONTENT_TYPE", "LOCAL_CONTENT_LENGTH", "LOCAL_HTTP_ETAG", NULL
};

int main(void)
{
    const char *query = getenv("QUERY_STRING");
    long n = 0;
    int c;

    if (query && !strcmp(query, "missing")) {
        fputs("Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n"
              "<p>nothing here</p>\n", stdout);
        return 0;
    }
    if (query && !strcmp(query, "nocontent")) {
        fputs("Status: 204 No Content\n\nHTTP/1.1 200 OK\r\n"
              "Set-Cookie: session=stolen\r\nContent-Length: 7\r\n\r\n"
              "forged!", stdout);
        return 0;
    }
    if (query && !strcmp(query, "broken")) {
        fputs("no header block, only text\n", stdout);
        return 0;
    }
    if (query && !strcmp(query, "cookie"))
        fputs("Set-Cookie: session=forged\nX-Nexe-Status: forged\n", stdout);
    fputs("Content-Type: text/plain\nCache-Control: no-store\n\n", stdout);
    for (int i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        printf("%s=%s\n", names[i], v ? v : "(unset)");
    }
    while ((c = getchar()) != EOF)
        n++;
    printf("stdin %ld\n", n);
    return 0;
}
