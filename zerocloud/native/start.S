/*
 * Copyright (c) 2026 zerocloud developers
 * Licensed under the Apache License, Version 2.0
 *
 * start.S -- entry point and the few instructions C cannot express.
 */
    .text

/* _start: the kernel leaves argc at (%rsp), argv after it. */
    .globl _start
    .type _start, @function
_start:
    xor %ebp, %ebp
    mov (%rsp), %rdi            /* argc */
    lea 8(%rsp), %rsi           /* argv */
    and $-16, %rsp
    call zvm_main
    mov %eax, %edi
    mov $231, %eax              /* exit_group */
    syscall
    hlt

/* long sys_call6(n, a, b, c, d, e, f): the launcher's own syscalls (before
 * the policy is installed, and in the supervisor, which has no policy). */
    .globl sys_call6
    .type sys_call6, @function
sys_call6:
    mov %rdi, %rax
    mov %rsi, %rdi
    mov %rdx, %rsi
    mov %rcx, %rdx
    mov %r8, %r10
    mov %r9, %r8
    mov 8(%rsp), %r9
    syscall
    ret

/* long zvm_gadget(n, a, b, c, d, e, f): the shim's syscalls.  The policy
 * recognises this call site by its return address (zvm_gadget_ret) and
 * allows only the few calls the shim needs, with their argument checks. */
    .globl zvm_gadget
    .globl zvm_gadget_ret
    .type zvm_gadget, @function
zvm_gadget:
    mov %rdi, %rax
    mov %rsi, %rdi
    mov %rdx, %rsi
    mov %rcx, %rdx
    mov %r8, %r10
    mov %r9, %r8
    mov 8(%rsp), %r9
    syscall
zvm_gadget_ret:
    ret

/* Signal restorer for the SIGSYS handler (SA_RESTORER). */
    .globl zvm_sigreturn
    .type zvm_sigreturn, @function
zvm_sigreturn:
    mov $15, %eax               /* rt_sigreturn */
    syscall
    hlt

/* void zvm_switch_stack(uint64_t sp, void (*fn)(void)): noreturn. */
    .globl zvm_switch_stack
    .type zvm_switch_stack, @function
zvm_switch_stack:
    mov %rdi, %rsp
    xor %ebp, %ebp
    call *%rsi
    hlt

/* void zvm_enter_guest(uint64_t entry, uint64_t sp): jump to the guest with
 * the registers the x86-64 ABI expects at process entry (rdx = 0: no
 * termination function) and nothing of the launcher's left in the others. */
    .globl zvm_enter_guest
    .type zvm_enter_guest, @function
zvm_enter_guest:
    mov %rsi, %rsp
    mov %rdi, %r11
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %edi, %edi
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
    push %r11
    xor %r11d, %r11d
    ret

    .section .note.GNU-stack,"",@progbits
