/*
 * Creating files safely where other users may have planted something: the
 * one place every writer (the snapshot writer in the shim and the tracer,
 * `report -o`, `diff -o`, soak's outputs) creates a file or an output
 * directory. The tools often run as root in directories users choose, so:
 *
 *  - a file is never opened by its final name: it is written to a fresh
 *    temporary in the same directory (".NAME.PID.RANDOM.tmp", created with
 *    O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) and renamed onto NAME only when
 *    complete; a NAME that exists and is not a regular file (a symlink, a
 *    FIFO, a directory) is refused, never followed or replaced;
 *  - an output directory is created 0700, and an existing one is refused
 *    when it is not owned by the caller, is writable by group or others, or
 *    is a symlink owned by another user -- unless the caller says the
 *    directory is meant to be shared (SAFE_DIR_SHARED, the tools'
 *    --allow-shared-dir);
 *  - temporaries left by writers that died (their pid is gone, or they are
 *    older than SAFE_TMP_STALE_SEC) are removed at the next start.
 *
 * Nothing here allocates or uses stdio: the shim calls it from inside the
 * audited process. Functions return 0 (or an fd) or -errno. Where a refusal
 * is a policy decision rather than a system error, *why (when not NULL) is
 * set to a static sentence saying what was wrong; otherwise it is NULL.
 */
#ifndef LEAKAUDIT_SAFEFILE_H
#define LEAKAUDIT_SAFEFILE_H

#include <stddef.h>

/* An output directory that is not the caller's private one is accepted. */
#define SAFE_DIR_SHARED 1u

/* A temporary this old is stale even if its writer's pid is alive again. */
#define SAFE_TMP_STALE_SEC 3600

/* Room for a temporary's name: "." NAME "." PID "." 16 hex ".tmp". */
#define SAFE_TMP_NAME_MAX 320

/*
 * Creates PATH (and missing parents, 0700) if needed and opens it as an
 * output directory after the checks above. Returns a directory fd
 * (O_CLOEXEC) or -errno (-EPERM with *why for a policy refusal).
 */
int safe_dir_open(const char *path, unsigned flags, const char **why);

/*
 * Checks NAME in dirfd as a place to put a new file: it must not exist or be
 * a regular file. 0, or -EEXIST with *why ("is a symlink", ...).
 */
int safe_target_check(int dirfd, const char *name, const char **why);

/*
 * Creates a fresh temporary for NAME in dirfd; its name is written to
 * tmp_name (cap >= SAFE_TMP_NAME_MAX). Returns the fd (O_WRONLY|O_CLOEXEC,
 * 0600) or -errno.
 */
int safe_tmp_create(int dirfd, const char *name, char *tmp_name, size_t cap);

/* Renames tmp_name onto name in dirfd after safe_target_check; on any error
 * the temporary is removed. 0 or -errno. */
int safe_tmp_commit(int dirfd, const char *tmp_name, const char *name, const char **why);

/* Removes the temporary (after an error). */
void safe_tmp_discard(int dirfd, const char *tmp_name);

/* Removes temporaries of dead writers in dirfd (only the caller's own files).
 * Returns how many were removed. */
int safe_clean_stale_tmp(int dirfd);

/*
 * A whole output file by path, for the tools (`report -o`, `diff -o`, soak):
 * safe_output_open checks the target and creates the temporary in the
 * target's directory (which is not checked for ownership: a file's directory
 * is the user's choice, e.g. /tmp); safe_output_commit renames it into place
 * (the caller has flushed and closed fd, and reports a write error first by
 * calling safe_output_abort instead).
 */
struct safe_output {
    int dirfd;
    int fd;
    char name[256];
    char tmp_name[SAFE_TMP_NAME_MAX];
};
int safe_output_open(struct safe_output *o, const char *path, const char **why);
int safe_output_commit(struct safe_output *o, const char **why);
void safe_output_abort(struct safe_output *o);

#endif
