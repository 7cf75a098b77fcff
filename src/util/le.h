/*
 * util/le: little-endian loads and stores at any alignment, for the
 * structures gmvm reads from files (ELF) and writes into guest memory
 * (boot_params, start_info, MP table).  x86 guests are little-endian
 * whatever the host, so these spell the byte order out.
 */
#ifndef GM_UTIL_LE_H
#define GM_UTIL_LE_H

#include <stdint.h>

static inline uint16_t gm_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t gm_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t gm_le64(const uint8_t *p)
{
	return (uint64_t)gm_le32(p) | (uint64_t)gm_le32(p + 4) << 32;
}

static inline void gm_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void gm_put_le32(uint8_t *p, uint32_t v)
{
	gm_put_le16(p, (uint16_t)v);
	gm_put_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void gm_put_le64(uint8_t *p, uint64_t v)
{
	gm_put_le32(p, (uint32_t)v);
	gm_put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
