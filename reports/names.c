/*
 * Names of the report model's enumerations, shared by every renderer:
 * verdicts, row classes and reachability keys (the snapshot format's own
 * names are in common/snapshot_names.c).
 */
#include "report.h"

const char *rpt_verdict_name(enum rpt_verdict v)
{
    switch (v) {
    case RPT_VERDICT_NEW:
        return "new";
    case RPT_VERDICT_LEAK:
        return "leak";
    case RPT_VERDICT_PLATEAU:
        return "plateau";
    case RPT_VERDICT_STABLE:
        return "stable";
    case RPT_VERDICT_FREED:
        return "freed";
    default:
        return "unknown";
    }
}

const char *rpt_class_name(enum rpt_class c)
{
    switch (c) {
    case RPT_HEAP:
        return "heap";
    case RPT_FDS:
        return "fds";
    case RPT_MMAPS:
        return "mmaps";
    case RPT_RES:
        return "resources";
    default:
        return "?";
    }
}

const char *rpt_reach_key(int cls)
{
    switch (cls) {
    case SNAP_REACH_DEFINITE:
        return "definitely_lost";
    case SNAP_REACH_INDIRECT:
        return "indirectly_lost";
    case SNAP_REACH_POSSIBLE:
        return "possibly_lost";
    case SNAP_REACH_REACHABLE:
        return "still_reachable";
    default:
        return "?";
    }
}
