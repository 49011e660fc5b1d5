/*
 * Patching a running process's imports, from inside it: for every loaded
 * module (the executable and each shared library, not the vDSO, the dynamic
 * loader or the module this code is linked into), every JUMP_SLOT and
 * GLOB_DAT relocation against a symbol the caller wants is rewritten to the
 * caller's replacement; slots in a RELRO range are made writable for the
 * write and read-only again after. Idempotent: run it again after dlopen
 * (got_patch_all with the new handle) or when got_loader_adds() changed,
 * and only new slots change. The shim's paired-resource tracking uses it
 * (allocshim/resources.c); an injected library can use it the same way.
 *
 * Works from the dynamic section (the section headers are not mapped):
 * symbol count from DT_HASH / DT_GNU_HASH. RELA relocations only (x86_64,
 * aarch64). Calls a module makes to its own functions without its PLT are
 * not imports and are not seen. No allocation except through dlsym.
 */
#ifndef LEAKAUDIT_GOT_PATCH_H
#define LEAKAUDIT_GOT_PATCH_H

#include <stdint.h>

struct got_patch_ops {
    /* A cookie (>= 0) when module's import of symbol is to be patched,
     * < 0 to leave it. module: its path (the executable's for the main
     * program). */
    int (*wanted)(const char *module, const char *symbol, void *arg);
    /* The slot's new value (0: leave it). current: the slot's value;
     * target: the definition it resolves to (where a lazily bound slot will
     * go), never 0. */
    uintptr_t (*replacement)(int cookie, uintptr_t current, uintptr_t target, void *arg);
    /* After a slot was rewritten (may be NULL). */
    void (*patched)(int cookie, void *arg);
    void *arg;
};

/* Patches every loaded module. handle: a dlopen handle whose symbols
 * resolve names not yet global (NULL: none). Returns the slots rewritten. */
unsigned got_patch_all(const struct got_patch_ops *ops, void *handle);

/* Calls fn for each function a module defines and exports, in the modules
 * module_wanted accepts (by path; NULL: all). */
void got_for_each_export(int (*module_wanted)(const char *module, void *arg),
                         void (*fn)(const char *module, const char *symbol, void *arg), void *arg);

/* The loader's count of modules ever added: changed means new modules. */
unsigned long long got_loader_adds(void);

#endif
