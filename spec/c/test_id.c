/* test_id.c - random ids (id.c): the alphabet, no repeats, the byte pool
 * refilled across many ids, and a forked child that does not hand out the
 * ids its parent is about to. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "id.h"
#include "test.h"

enum { N = 5000, LEN = 20 };

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

int main(void) {
  static char ids[N][LEN + 1];
  /* many ids: several refills of the pool, every character from the alphabet */
  for (int i = 0; i < N; i++) {
    yolk__random_id(ids[i], LEN);
    CHECK_EQ_INT(strlen(ids[i]), LEN);
    for (int k = 0; k < LEN; k++) CHECK(memchr(yolk__id_alphabet, ids[i][k], 64) != NULL);
  }
  qsort(ids, N, sizeof(ids[0]), cmp);
  for (int i = 1; i < N; i++) CHECK(strcmp(ids[i - 1], ids[i]) != 0);

  /* an id longer than one draw (64 bytes) */
  char longer[201];
  yolk__random_id(longer, 200);
  CHECK_EQ_INT(strlen(longer), 200);

  /* fork with bytes left in the pool: the child's next id is not the parent's */
  char mine[LEN + 1], childs[LEN + 1];
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    yolk__random_id(childs, LEN);
    _exit(write(fds[1], childs, LEN + 1) == LEN + 1 ? 0 : 1);
  }
  close(fds[1]);
  yolk__random_id(mine, LEN);
  CHECK(read(fds[0], childs, LEN + 1) == LEN + 1);
  close(fds[0]);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(strcmp(mine, childs) != 0);
  TEST_MAIN_END();
}
