/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * zvm_status.h -- the launcher's exit-status and termination-reason contract.
 *
 * This header is the single source of truth: zerocloud/executor/result.py
 * mirrors it, and test/unit/executor/test_result.py parses this file so the
 * two cannot disagree.  Keep one definition per line, in this exact form.
 *
 * Exit status of the `zvm` process itself (not of the guest program):
 */
#ifndef ZVM_STATUS_H
#define ZVM_STATUS_H

/* A report was written: the guest ran (its exit code, signal and reason
 * are in the report), or its segments did not fit the memory limit
 * (reason "memory"). */
#define ZVM_STATUS_OK 0
/* The command line was wrong (zvm MANIFEST_FD).  No report. */
#define ZVM_STATUS_USAGE 64
/* The manifest could not be read or is malformed.  No report. */
#define ZVM_STATUS_MANIFEST 65
/* The loader refused the program; report written, reason "invalid-binary". */
#define ZVM_STATUS_INVALID_BINARY 66
/* An internal step failed (a syscall, fork, ...); report written if possible,
 * reason "launcher-error". */
#define ZVM_STATUS_LAUNCHER 70
/* The report could not be written to its fd. */
#define ZVM_STATUS_REPORT 74

/*
 * Termination reasons, as written in the report's "reason" field.
 */
#define ZVM_REASON_OK "ok"                          /* exit code 0 */
#define ZVM_REASON_EXIT "exit"                      /* non-zero exit code */
#define ZVM_REASON_SIGNAL "signal"                  /* killed by a signal */
#define ZVM_REASON_TIMEOUT "timeout"                /* wall-clock limit */
#define ZVM_REASON_CPU "cpu"                        /* CPU-time limit */
#define ZVM_REASON_MEMORY "memory"                  /* failed after hitting the memory limit */
#define ZVM_REASON_OUTPUT_LIMIT "output-limit"      /* a channel or total output cap */
#define ZVM_REASON_POLICY "policy"                  /* killed by the seccomp policy */
#define ZVM_REASON_INVALID_BINARY "invalid-binary"  /* refused by the loader */
#define ZVM_REASON_LAUNCHER_ERROR "launcher-error"  /* the launcher failed */
#define ZVM_REASON_ABORTED "aborted"                /* stopped from outside (SIGTERM/INT/HUP to zvm) */
#define ZVM_REASON_OUTPUT_ERROR "output-error"      /* an output's destination write failed */

#endif /* ZVM_STATUS_H */
