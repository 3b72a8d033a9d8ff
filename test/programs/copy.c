/* Copies stdin to stdout with read and write alone: no stdio.  Built
 * with gcc -static on Debian 12 (glibc 2.36), its hidden lsl's address
 * also appears, unaligned, among .eh_frame's bytes: the validator once
 * refused it (test_validator.py). */
#include <unistd.h>

int main(void)
{
    char buf[65536];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
        ssize_t done = 0;
        while (done < n) {
            ssize_t w = write(1, buf + done, n - done);
            if (w <= 0)
                return 2;
            done += w;
        }
    }
    return n < 0 ? 3 : 0;
}
