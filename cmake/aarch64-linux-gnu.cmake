# Cross build for 64-bit ARM (a Raspberry Pi 3, 4 or 5 on a 64-bit OS) with Debian's cross
# compiler and the arm64 multiarch -dev packages (scripts/cross-test.sh installs both). Tests
# run under qemu-aarch64-static user-mode emulation: CTest starts each test through it, and the
# tests start the built programs through it too (tests/child.h).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Multiarch: the arm64 libraries live in /usr/lib/aarch64-linux-gnu beside the host's.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
find_program(DW_QEMU_AARCH64 qemu-aarch64-static REQUIRED)
# -L /: the arm64 loader and libraries are the multiarch ones in /lib/aarch64-linux-gnu, which
# the program was linked against. (Not /usr/aarch64-linux-gnu: the cross compiler's own loader
# there, of another glibc build than the multiarch libc.so.6 it finds, hangs threads and fork.)
set(CMAKE_CROSSCOMPILING_EMULATOR "${DW_QEMU_AARCH64};-L;/")
