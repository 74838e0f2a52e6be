/*
 * A process-wide allocation counter. malloc, calloc, realloc and the aligned
 * allocators are defined in the executable, so the dynamic linker binds every
 * library's calls (Swift's runtime, libssl, libcrypto) to them; they count
 * while counting is on and forward to glibc's own allocator.
 */
#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H

/* Starts counting from zero. */
void mc_start(void);
/* Stops counting; returns the allocations counted since mc_start. */
unsigned long mc_stop(void);

#endif
