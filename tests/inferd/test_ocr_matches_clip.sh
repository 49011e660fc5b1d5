#!/usr/bin/env bash
# inferd reads back the frame counter scripts/make-clip drew: every OCR result
# equals the clip's frame number (from the pts), motion and text boxes are
# found on every frame, and the snapshot is a real JPEG of the clip's size.
# timeout: 60
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib_inferd.sh"

inferd_clip "$T/counter.mp4" --seconds 6
cat >"$T/c.json" <<JSON
{
  "http": {"port": 0}, "log_level": "warn", "workers": 2,
  "detections_keep": 256, "ocr": {"every_n_frames": 3}, "snapshot": {"every_n_frames": 5},
  "clips": {"counter": "$T/counter.mp4"},
  "streams": [{"source": "counter", "name": "cam0"}]
}
JSON
inferd_start "$T/c.json"
ocr_runs() { [ "$(metric inferd_ocr_runs_total 'stream="1"')" -ge 12 ]; }
wait_until 30 ocr_runs || fail "fewer than 12 OCR runs after 30 s"

code=$(http GET /streams/1/detections)
assert_eq "$code" 200
python3 - "$T/body" <<'PY' || fail "OCR results do not match the clip"
import json, sys
dets = json.load(open(sys.argv[1]))["detections"]
texts = [d for d in dets if "text" in d]
assert len(texts) >= 12, f"only {len(texts)} OCR results"
bad = [(d["frame_index"], d["text"]) for d in texts if d["text"] != "%06d" % d["frame_index"]]
assert not bad, f"mismatches (frame, text): {bad[:10]}"
# The counter box: the ink must lie inside the drawn 216x72 box at (8,8).
for d in dets:
    b = d["text_box"]
    assert b["w"] > 100 and 8 <= b["x"] and b["x"] + b["w"] <= 224 and 8 <= b["y"] <= 80, b
# The test pattern moves, so some motion is seen on most frames.
moving = sum(1 for d in dets if d["motion"] > 0)
assert moving >= len(dets) // 2, f"motion on only {moving} of {len(dets)} frames"
assert all(d["seq"] >= 0 and d["latency_ms"] >= 0 for d in dets)
print(f"ok - {len(texts)} OCR results all equal the drawn counter, e.g. "
      f"frame {texts[0]['frame_index']} -> {texts[0]['text']} (confidence {texts[0]['confidence']})")
PY

code=$(http GET /streams/1/snapshot.jpg -D "$T/headers")
assert_eq "$code" 200
assert_contains "$T/headers" "image/jpeg"
file "$T/body" >"$T/file.txt"
assert_contains "$T/file.txt" "JPEG image data.* 320x240"
ok "snapshot is a 320x240 JPEG"

inferd_stop TERM
assert_eq "$INFERD_RC" 0 "inferd exited with $INFERD_RC after SIGTERM"
