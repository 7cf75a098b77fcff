/*
 * hello: the smallest guest: says which entry it came through, how many
 * processors the MP table lists and how much RAM e820 reports, and powers off.
 * hello.port=P reads and writes port P twice first (to see how a VMM treats
 * a port nobody claims); hello.exit=N ends through the exit port with N.
 */
#include "rt.h"
#include "x86.h"

int main(void)
{
	rt_printf("Hello from gmvm guest (entry=%s)\n", rt_entry_name());
	rt_printf("cpus=%u ram=%lu MiB\n", rt_cpu_count(), (unsigned long)(rt_ram_total() / RT_MIB));
	if (rt_param("hello.port")) {
		uint16_t port = (uint16_t)rt_param_u64("hello.port", 0);
		for (int i = 0; i < 2; i++) {
			outb(port, 0x42);
			rt_printf("hello: port 0x%x reads 0x%x\n", port, inb(port));
		}
	}
	return (int)rt_param_u64("hello.exit", 0);
}
