# Helpers for the resource tests (sourced after tests/lib.sh).
RES=$TESTBIN/resources
RESDUMP=$TESTBIN/common/snapdump
VENDOR_SPEC='name=vendor;create=vendor_create:ret,vendor_open:*arg0;destroy=vendor_destroy:arg0;use=vendor_run:arg0'
VBUF_SPEC='name=vbuf;create=vendor_buf_new:ret;ref=vendor_buf_ref:arg0;unref=vendor_buf_unref:arg0'
need_file "$SHIM"
need_file "$RESDUMP"
need_file "$RES/vendor_app"
need_cmd addr2line

# first_func LINE LABEL: function of the first frame after "LABEL=".
first_func() {
    local f=${1#* $2=}
    f=${f%%[, ]*}
    func_of "$f"
}

# field LINE NAME: value of NAME=... in a resdump line.
field() {
    local v=${1#* $2=}
    echo "${v%% *}"
}

# res_at DUMP KIND FUNC: "live created destroyed balance lastref-function" summed over
# the kind's records whose first frame is in FUNC.
res_at() {
    local line live=0 created=0 destroyed=0 balance=0 lastref=
    while IFS= read -r line; do
        [ "$(first_func "$line" frames)" = "$3" ] || continue
        live=$((live + $(field "$line" live)))
        created=$((created + $(field "$line" created)))
        destroyed=$((destroyed + $(field "$line" destroyed)))
        balance=$((balance + $(field "$line" balance)))
        case "$line" in *lastref=*) lastref=$(first_func "$line" lastref) ;; esac
    done < <(grep "^res kind=$2 " "$1")
    echo "$live $created $destroyed $balance $lastref"
}

# event_funcs DUMP KIND: "create-func destroy-func access-func" of the first event of KIND.
event_funcs() {
    local line
    line=$(grep -m1 "^event kind=$2 " "$1")
    [ -n "$line" ] || { echo "none"; return; }
    echo "$(first_func "$line" create) $(first_func "$line" destroy) $(first_func "$line" access)"
}
