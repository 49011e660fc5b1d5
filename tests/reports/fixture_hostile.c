/*
 * A function whose symbol name is hostile markup: the build renames
 * hostile_render_frame with objcopy --redefine-sym to a string holding
 * <script> and an <img onerror>, as a closed-source binary could. Reports
 * must escape it (HTML) or quote it (JSON) and never execute it.
 */
#include <stdint.h>

uint32_t gen_record_alloc(void);

__attribute__((noinline)) uint32_t hostile_render_frame(void)
{
    return gen_record_alloc(); /* HOSTILE-SITE */
}

__attribute__((noinline)) uint32_t hostile_entry(void)
{
    return hostile_render_frame();
}
