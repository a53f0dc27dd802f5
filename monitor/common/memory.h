// The heap of a program that works in bursts (a run's requests, storing and detection; an
// import; a report) and, as a daemon, idles for hours between them.
#pragma once

namespace dw {

// Keeps the memory a burst frees for its next allocations until release_freed_memory(), and
// gives every thread the one heap that call trims. Once, at start, before any thread.
//
// Why: glibc gives memory back to the kernel as soon as 128 KiB at the top of its heap are
// free (more once it has freed large blocks, which raises that mark). A run frees its requests' buffers before detection, and detection its history before
// the next run: each took its memory back a page fault at a time, about a thousand faults a
// detection, half of its CPU on a virtual machine.
void keep_freed_memory();

// Gives back to the kernel what the heap holds free (malloc_trim): when a burst ends and the
// process will idle, as the daemon does between jobs.
void release_freed_memory();

}  // namespace dw
