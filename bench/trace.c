/*
 * bench/trace: parse gmvm's start-up trace lines generically and keep the
 * step of each phase per round, phases in the order they first appear.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

static const char prefix[] = "gmvm: trace ";

int trace_parse_line(const char *line, char *name, size_t namelen, double *step_ms, double *at_ms)
{
	char buf[256];
	size_t len = strcspn(line, "\n");

	if (strncmp(line, prefix, sizeof(prefix) - 1) || len >= sizeof(buf))
		return -1;
	memcpy(buf, line, len);
	buf[len] = '\0';

	char *body = buf + sizeof(prefix) - 1, *end;
	char *at = strstr(body, "(at ");

	if (!at)
		return -1;
	*at_ms = strtod(at + 4, &end);
	if (end == at + 4 || strncmp(end, " ms)", 4))
		return -1;
	/* the step's '+' is the last one before "(at": a name may hold '+' too */
	char *plus = at;

	while (plus > body && *plus != '+')
		plus--;
	if (*plus != '+')
		return -1;
	*step_ms = strtod(plus + 1, &end);
	if (end == plus + 1 || strncmp(end, " ms", 3))
		return -1;
	while (plus > body && plus[-1] == ' ')
		plus--;
	*plus = '\0';
	if (!*body || strlen(body) >= namelen)
		return -1;
	strcpy(name, body);
	return 0;
}

static int phase_index(struct trace_phases *t, const char *name)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->name[i], name))
			return i;
	if (t->n == TRACE_MAX_PHASES)
		return -1;
	double *v = malloc((size_t)t->rounds * sizeof(*v));

	if (!v)
		return -1;
	for (int r = 0; r < t->rounds; r++)
		v[r] = NAN;
	strcpy(t->name[t->n], name);
	t->step[t->n] = v;
	return t->n++;
}

int trace_phases_add(struct trace_phases *t, int round, const char *output, double *last_at_ms)
{
	int lines = 0;

	for (const char *line = output; line && *line;) {
		char name[TRACE_NAME_MAX];
		double step, at;

		if (trace_parse_line(line, name, sizeof(name), &step, &at) == 0) {
			int i = phase_index(t, name);

			if (i >= 0 && round >= 0 && round < t->rounds)
				t->step[i][round] = step;
			*last_at_ms = at;
			lines++;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return lines;
}

int trace_phases_init(struct trace_phases *t, int rounds)
{
	memset(t, 0, sizeof(*t));
	t->rounds = rounds;
	return 0;
}

void trace_phases_free(struct trace_phases *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->step[i]);
	t->n = 0;
}
