/*
 * hello: the smallest guest: says which entry it came through, how many
 * processors the MP table lists and how much RAM e820 reports, and powers off.
 */
#include "rt.h"

int main(void)
{
	rt_printf("Hello from gmvm guest (entry=%s)\n", rt_entry_name());
	rt_printf("cpus=%u ram=%lu MiB\n", rt_cpu_count(), (unsigned long)(rt_ram_total() / RT_MIB));
	return 0;
}
