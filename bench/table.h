/*
 * bench/table: a small table of text cells, printed either aligned for the
 * terminal or as a Markdown table, so the summary and the report agree.
 */
#ifndef BENCH_TABLE_H
#define BENCH_TABLE_H

#include <stdio.h>

#define TABLE_MAX_COLS 6
#define TABLE_MAX_ROWS 64
#define TABLE_CELL 160

struct table {
	int cols, rows;
	unsigned right;	/* bit c set: column c is right-aligned (numbers) */
	char head[TABLE_MAX_COLS][TABLE_CELL];
	char cell[TABLE_MAX_ROWS][TABLE_MAX_COLS][TABLE_CELL];
};

/* Headers as cols strings; a header starting with '>' is right-aligned (the '>' is dropped). */
void table_init(struct table *t, int cols, ...);
/* Adds a row of cols strings; rows past TABLE_MAX_ROWS are dropped. */
void table_row(struct table *t, ...);
void table_print_text(FILE *out, const struct table *t, const char *indent);
void table_print_md(FILE *out, const struct table *t);

/* A number with the given decimals, or "n/a" for NaN. */
const char *table_num(char *buf, size_t len, double v, int decimals);

#endif
