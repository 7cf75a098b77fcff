/* bench/table: text cells printed aligned for a terminal or as Markdown. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "table.h"

void table_init(struct table *t, int cols, ...)
{
	va_list ap;

	memset(t, 0, sizeof(*t));
	t->cols = cols < TABLE_MAX_COLS ? cols : TABLE_MAX_COLS;
	va_start(ap, cols);
	for (int c = 0; c < t->cols; c++) {
		const char *h = va_arg(ap, const char *);

		if (*h == '>') {
			t->right |= 1u << c;
			h++;
		}
		snprintf(t->head[c], TABLE_CELL, "%s", h);
	}
	va_end(ap);
}

void table_row(struct table *t, ...)
{
	va_list ap;

	if (t->rows == TABLE_MAX_ROWS)
		return;
	va_start(ap, t);
	for (int c = 0; c < t->cols; c++)
		snprintf(t->cell[t->rows][c], TABLE_CELL, "%s", va_arg(ap, const char *));
	va_end(ap);
	t->rows++;
}

static void print_cell(FILE *out, const struct table *t, int c, const char *s, int width)
{
	if (c)
		fputs("  ", out);
	if (t->right & (1u << c))
		fprintf(out, "%*s", width, s);
	else if (c < t->cols - 1)
		fprintf(out, "%-*s", width, s);
	else
		fputs(s, out); /* no trailing blanks */
}

void table_print_text(FILE *out, const struct table *t, const char *indent)
{
	int width[TABLE_MAX_COLS];

	for (int c = 0; c < t->cols; c++) {
		width[c] = (int)strlen(t->head[c]);
		for (int r = 0; r < t->rows; r++)
			if ((int)strlen(t->cell[r][c]) > width[c])
				width[c] = (int)strlen(t->cell[r][c]);
	}
	for (int r = -1; r < t->rows; r++) {
		fputs(indent, out);
		for (int c = 0; c < t->cols; c++)
			print_cell(out, t, c, r < 0 ? t->head[c] : t->cell[r][c], width[c]);
		fputc('\n', out);
	}
}

void table_print_md(FILE *out, const struct table *t)
{
	for (int c = 0; c < t->cols; c++)
		fprintf(out, "| %s ", t->head[c]);
	fputs("|\n", out);
	for (int c = 0; c < t->cols; c++)
		fputs(t->right & (1u << c) ? "|---:" : "|---", out);
	fputs("|\n", out);
	for (int r = 0; r < t->rows; r++) {
		for (int c = 0; c < t->cols; c++)
			fprintf(out, "| %s ", t->cell[r][c]);
		fputs("|\n", out);
	}
}

const char *table_num(char *buf, size_t len, double v, int decimals)
{
	if (isnan(v))
		snprintf(buf, len, "n/a");
	else
		snprintf(buf, len, "%.*f", decimals, v);
	return buf;
}
