/* Test shim for the wine smoke run only (scripts/windows-smoke.sh).
 *
 * Rust's standard library on Windows draws random bytes with ProcessPrng
 * from bcryptprimitives.dll (Windows 10 and later). Debian 12's wine 8.0
 * has no such DLL, so the .exe would not even load; this stand-in answers
 * ProcessPrng with RtlGenRandom (advapi32's SystemFunction036), which wine
 * implements. It is never shipped: real Windows has the DLL. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
