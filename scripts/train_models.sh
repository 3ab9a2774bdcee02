#!/usr/bin/env bash
# The training runs behind the bundled checkpoints in models/, one function per model id, then
# bundling (measured on celeba_dev by scripts/bundle_model.py, never copied from a log).
#
#   bash scripts/train_models.sh labels                  # pseudo parsing labels (mediapipe), once
#   bash scripts/train_models.sh labels_dev              # and of celeba_dev (CAGFace component IoU)
#   bash scripts/train_models.sh eipnet_w128             # train one model id (CPU variant)
#   bash scripts/train_models.sh bundle eipnet_w128 5400 ["CPU ..."]  # measure + bundle runs/<id>/:
#                                                        # wall time (s) and hardware of the run
#   RUN=eipnet_w128_long PRIOR_STEPS=3600 bash scripts/train_models.sh bundle eipnet_w128 ...  # a continued run
#   MODELS=/tmp/staging bash scripts/train_models.sh bundle ...   # bundle into another models folder
#   DEVICE=cuda bash scripts/train_models.sh eipnet_w128 # same recipe on a GPU
#
# Every run is resumable: RESUME=1 continues from runs/<id>/state.pt (exactly, schedule included).
# DATA (default ../shared/data) holds celeba_train/ and celeba_dev/ (CelebA: non-commercial research).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DATA:-../shared/data}"
DEVICE="${DEVICE:-cpu}"
RUNS="${RUNS:-runs}"
PARSING="${PARSING:-$RUNS/parsing_train}"
FACESR="${FACESR:-facesr}"   # scripts/device_train.py runs the source tree: python3 -m facesr_gui.cli
BUDGET="${BUDGET:-}"         # minutes: train --time-budget (the run fits its length to them)

run() {   # run ID NET STEPS LR NET_CFG [extra train args...]
    local id=$1 net=$2 steps=$3 lr=$4 cfg=$5; shift 5
    local opts=()
    [[ "${RESUME:-0}" == 1 && -f "$RUNS/$id/state.pt" ]] && opts=(--resume "$RUNS/$id/state.pt")
    [[ -n "$BUDGET" ]] && opts+=(--time-budget "$BUDGET")
    $FACESR train --model "$net" --data "$DATA/celeba_train" --val "$DATA/celeba_dev" --device "$DEVICE" \
        --steps "$steps" --batch 16 --lr "$lr" --schedule cosine --warmup 200 --net-cfg "$cfg" \
        --val-every 400 --save-every 200 --out "$RUNS/$id" "${opts[@]}" "$@"
}

main() {   # the whole script is parsed before it runs: editing it mid-run is safe
case "${1:-}" in
    labels) facesr labels --data "$DATA/celeba_train" --out "$PARSING" ;;
    # the same for the held-out faces: bundling measures CAGFace's component net on them
    labels_dev) facesr labels --data "$DATA/celeba_dev" --out "$RUNS/parsing_dev" ;;
    # EIPNet, Table 1 layout at width 128 instead of 512 (0.75M params): what 2 CPU cores train in ~1.5 h
    eipnet_w128) run eipnet_w128 eipnet 3600 4e-4 '{"width": 128}' --no-gan ;;
    # prior-guided attention (method 1) at 32 channels, 8 basic blocks (0.57M params), global residual
    # (the paper's direct prediction was still below bicubic after 520 of 1500 steps on CPU)
    priorsr_c32) run priorsr_c32 priorsr 1300 4e-4 '{"channels": 32, "n_blocks": 8, "residual": true}' --parsing "$PARSING" ;;
    # the same eipnet_w128 weights, trained on for a second cosine cycle at half the peak rate
    eipnet_w128_long) run eipnet_w128_long eipnet 7500 2e-4 '{"width": 128}' --no-gan --init "$RUNS/eipnet_w128/eipnet.safetensors" ;;
    # method 2: priorsr_c32 fine-tuned with the SRGAN discriminator, no VGG term (no offline weights). The thesis
    # gives no weights for eq. 3.10; SRGAN's 1e-3 fell below bicubic (23.15 vs 23.51 dB on 64 dev faces after
    # 300 steps, the discriminator won outright), so 1e-4
    priorsr_gan_c32) run priorsr_gan_c32 priorsr_gan 300 1e-4 '{"channels": 32, "n_blocks": 8, "residual": true}' --parsing "$PARSING" --init "$RUNS/priorsr_c32/priorsr.safetensors" --warmup 25 --gan-weight 1e-4 ;;
    # JEANet's 16 FAAMs cut to 3 + 4 + 3 at 16..32 channels (0.58M params): what one CPU thread trains in ~1.5 h
    jeanet_s) run jeanet_s jeanet 2200 4e-4 '{"min_ch": 16, "max_ch": 32, "n_middle": 4}' ;;
    # CAGFace x4 on the 128x128 CelebA faces (32 -> 128, lr_size 32), 32 features, 8 residual units per stage,
    # bicubic residual (not the paper's); the component net trains alongside on the pseudo labels (BCE, detached)
    cagface_s32) run cagface_s32 cagface 5500 4e-4 '{"n_feats": 32, "n_blocks": 8, "residual": true, "lr_size": 32}' --parsing "$PARSING" ;;
    # W-Net x8 at 16 channels, a one-level W path (up to 256x256 and back), a 2-level SCAB U-Net with one SCAB per
    # level; batch 8 (a step at batch 16 takes ~4 s on one CPU thread: more, smaller steps in the same time)
    wnet_c16) run wnet_c16 wnet 4400 4e-4 '{"channels": 16, "w_depth": 1, "unet_depth": 2, "n_scab": 1}' --parsing "$PARSING" --batch 8 ;;
    # second cycles from the bundled (fp16) weights, faces kept upright (flips only, no quarter turns: the pipeline
    # hands the nets upright aligned faces; 600 steps of eipnet_w128 gave +0.07 dB upright vs +0.00 with turns)
    priorsr_c32_up) run priorsr_c32_up priorsr 3000 3e-4 '{}' --parsing "$PARSING" --init models/priorsr_c32.safetensors ;;
    jeanet_s_up) run jeanet_s_up jeanet 2500 3e-4 '{}' --init models/jeanet_s.safetensors ;;
    eipnet_w128_up) run eipnet_w128_up eipnet 5000 2e-4 '{}' --no-gan --init models/eipnet_w128.safetensors --preload ;;
    wnet_c16_up) run wnet_c16_up wnet 3000 3e-4 '{}' --parsing "$PARSING" --init models/wnet_c16.safetensors --batch 8 --preload ;;
    # a third cycle of eipnet_w128 from the second one's (fp32) weights, at a lower peak rate
    eipnet_w128_up2) run eipnet_w128_up2 eipnet 6000 1.5e-4 '{}' --no-gan --init "$RUNS/eipnet_w128_up/eipnet.safetensors" --preload ;;
    # a fourth cycle from the bundled (fp16) weights at a lower peak rate, time-budgeted on one CPU thread (issue
    # "Faces from real cameras": the best x8 model's clean gain)
    eipnet_w128_up3) run eipnet_w128_up3 eipnet 20000 1e-4 '{}' --no-gan --init models/eipnet_w128.safetensors --preload ;;
    # a sixth cycle from the fifth one's fp32 weights with EIPNet's pixel terms only (--loss-weight edge=0): the
    # edge term was over half the total loss, and PSNR is what the papers' table measures
    eipnet_w128_up4) run eipnet_w128_up4 eipnet 20000 8e-5 '{}' --no-gan --init "$RUNS/eipnet_w128_up3/eipnet.safetensors" --preload --loss-weight edge=0 ;;
    # a seventh, the same way from the sixth one's fp32 weights (resume it with RESUME=1: the fitted length is kept)
    eipnet_w128_up5) run eipnet_w128_up5 eipnet 20000 6e-5 '{}' --no-gan --init "$RUNS/eipnet_w128_up4/eipnet.safetensors" --preload --loss-weight edge=0 ;;
    # an eighth cycle from the seventh's fp32 weights: 20,000 steps (no BUDGET: a length fitted while other work
    # shares the cores comes out too short), resumed across sessions with RESUME=1
    eipnet_w128_up6) run eipnet_w128_up6 eipnet 20000 5e-5 '{}' --no-gan --init "$RUNS/eipnet_w128_up5/eipnet.safetensors" --preload --loss-weight edge=0 ;;
    jeanet_s_up2) run jeanet_s_up2 jeanet 2500 2e-4 '{}' --init "$RUNS/jeanet_s_up/jeanet.safetensors" --preload ;;
    # fourth JEANet and third W-Net cycles from the previous runs' fp32 weights, fitted into 45 minutes each
    # (BUDGET=45: --time-budget; the steps are a cap)
    jeanet_s_up3) run jeanet_s_up3 jeanet 2500 1.5e-4 '{}' --init "$RUNS/jeanet_s_up2/jeanet.safetensors" --preload ;;
    wnet_c16_up2) run wnet_c16_up2 wnet 3000 2e-4 '{}' --parsing "$PARSING" --init "$RUNS/wnet_c16_up/wnet.safetensors" --batch 8 --preload ;;
    # a third cycle of priorsr_c32, from the second one's (fp32) weights
    priorsr_c32_up2) run priorsr_c32_up2 priorsr 4000 2e-4 '{}' --parsing "$PARSING" --init "$RUNS/priorsr_c32_up/priorsr.safetensors" --preload ;;
    # method 2 again, from the upright priorsr_c32 runs
    priorsr_gan_c32_up) run priorsr_gan_c32_up priorsr_gan 300 1e-4 '{}' --parsing "$PARSING" --init "$RUNS/priorsr_c32_up2/priorsr.safetensors" --warmup 25 --gan-weight 1e-4 --preload ;;
    # real-camera variants (issue "Faces from real cameras"): fine-tuned from the bundled clean weights on LR faces made
    # by the degradation pipelines (train/degradations.py: blur, random scaler, noise, JPEG; surveillance adds H.264),
    # with framing jitter (zoom/shift up to 4%, so no --preload); 12% of the samples stay clean bicubic
    eipnet_w128_real) run eipnet_w128_real eipnet 20000 2e-4 '{}' --no-gan --init models/eipnet_w128.safetensors --degradation realistic --jitter 0.04 ;;
    jeanet_s_cctv) run jeanet_s_cctv jeanet 20000 2e-4 '{}' --init models/jeanet_s.safetensors --degradation surveillance --jitter 0.04 ;;
    # a second surveillance cycle from the first one's fp32 weights: 25% more clean bicubic faces (--clean-share) so the
    # default model keeps its clean-input gain, and the same cycle with only the pipeline's own 12% (the comparison)
    jeanet_s_cctv2) run jeanet_s_cctv2 jeanet 20000 1.5e-4 '{}' --init "$RUNS/jeanet_s_cctv/jeanet.safetensors" --degradation surveillance --jitter 0.04 --clean-share 0.25 ;;
    # EIPNet for real cameras the way the default jeanet_s_cctv was made (surveillance LR, 25% clean), from the
    # best clean x8 weights: EIPNet computes at LR resolution, its SR costs 8 ms a face where JEANet's costs 19
    # (issue "Video at 10+ fps": the default model's SR is most of a video frame's time)
    eipnet_w128_cctv) run eipnet_w128_cctv eipnet 20000 2e-4 '{}' --no-gan --init models/eipnet_w128.safetensors --degradation surveillance --jitter 0.04 --clean-share 0.25 ;;
    # its second cycle from the first one's fp32 weights, as jeanet_s_cctv2 was (the default's camera-like gain is 0.16 dB ahead)
    eipnet_w128_cctv2) run eipnet_w128_cctv2 eipnet 20000 1.5e-4 '{}' --no-gan --init "$RUNS/eipnet_w128_cctv/eipnet.safetensors" --degradation surveillance --jitter 0.04 --clean-share 0.25 ;;
    # its third cycle, from the bundled (fp16) second-cycle weights at a lower peak rate (still 0.12 dB short of the
    # default on camera-like faces; at EIPNet's cost a video runs 9.2 instead of 6.1 frames/s)
    eipnet_w128_cctv3) run eipnet_w128_cctv3 eipnet 20000 1e-4 '{}' --no-gan --init models/eipnet_w128_cctv.safetensors --degradation surveillance --jitter 0.04 --clean-share 0.25 ;;
    # the same with the pixel terms only (no edge loss: on noisy inputs Canny's edges of the HR face may ask for
    # edges the LR face no longer holds), run beside it
    eipnet_w128_cctv3e) run eipnet_w128_cctv3e eipnet 20000 1e-4 '{}' --no-gan --init models/eipnet_w128_cctv.safetensors --degradation surveillance --jitter 0.04 --clean-share 0.25 --loss-weight edge=0 ;;
    # its fourth cycle, from the third's fp32 weights (+0.043 dB camera-like: 22.829 vs 22.786 on all celeba_dev;
    # the pixel-only variant 22.818, their weight average 22.824), and beside it the same with fewer extra clean
    # faces (clean 25.10 dB has 0.3 dB of margin over the +1.5 the default needs)
    eipnet_w128_cctv4) run eipnet_w128_cctv4 eipnet 20000 1e-4 '{}' --no-gan --init "$RUNS/eipnet_w128_cctv3/eipnet.safetensors" --degradation surveillance --jitter 0.04 --clean-share 0.25 ;;
    eipnet_w128_cctv4c) run eipnet_w128_cctv4c eipnet 20000 1e-4 '{}' --no-gan --init "$RUNS/eipnet_w128_cctv3/eipnet.safetensors" --degradation surveillance --jitter 0.04 --clean-share 0.1 ;;
    # a fifth, fixed-length cycle at a lower peak rate, resumed across sessions (RESUME=1): the cycles gained 0.05,
    # 0.04 and 0.02 dB camera-like; 0.05 dB still separates it from the default
    eipnet_w128_cctv5) run eipnet_w128_cctv5 eipnet 12000 7e-5 '{}' --no-gan --init "$RUNS/eipnet_w128_cctv4/eipnet.safetensors" --degradation surveillance --jitter 0.04 --clean-share 0.25 ;;
    # distillation: cycle 5's weights also learn the mean output of the default jeanet_s_cctv and the bundled
    # eipnet_w128_cctv (that pair scored 0.11 dB above jeanet_s_cctv on 160 camera-like dev faces) at 3x
    # the HR term's weight (the student is near them already: their term starts at 1/20 of the HR one), fitted into 90 min
    eipnet_w128_cctv_kd) run eipnet_w128_cctv_kd eipnet 20000 1e-4 '{}' --no-gan --init "$RUNS/eipnet_w128_cctv5/eipnet.safetensors" --degradation surveillance --jitter 0.04 --clean-share 0.25 --teacher models/jeanet_s_cctv.safetensors --teacher models/eipnet_w128_cctv.safetensors --distill-weight 3 ;;
    # the default's third cycle, from its bundled second-cycle weights at a lower peak rate, fixed length, resumed
    # across sessions (RESUME=1); a JEANet step is 20% shorter since its up-convolutions became transposed ones.
    # Ran 2026-12-05 on two threads (90 min, BUDGET=125 kept the 6,000 steps): camera-like 22.901 -> 22.964 dB,
    # clean 25.04 -> 25.15, bundled; models/jeanet_s_cctv.safetensors is its result now (a rerun starts from it)
    jeanet_s_cctv3) run jeanet_s_cctv3 jeanet 6000 7e-5 '{}' --init models/jeanet_s_cctv.safetensors --degradation surveillance --jitter 0.04 --clean-share 0.25 ;;
    jeanet_s_cctv2b) run jeanet_s_cctv2b jeanet 20000 1.5e-4 '{}' --init "$RUNS/jeanet_s_cctv/jeanet.safetensors" --degradation surveillance --jitter 0.04 ;;
    # more channels for the best clean x8 model: EIPNet widened 128 -> 192 without changing what it computes
    # (Net2WiderNet, facesr_gui/train/widen.py), then fine-tuned with the pixel terms
    eipnet_w192_init) python3 scripts/widen_eipnet.py models/eipnet_w128.safetensors 192 "$RUNS/eipnet_w192_init.safetensors" ;;
    eipnet_w192) run eipnet_w192 eipnet 5000 1e-4 '{}' --no-gan --init "$RUNS/eipnet_w192_init.safetensors" --preload --loss-weight edge=0 ;;
    # its second cycle, distilled: it also learns the flip ensemble of itself and jeanet_s mixed 0.75/0.25 (25.91 dB on
    # 160 clean dev faces against its own 25.76); a fixed length (a time budget fitted beside another run comes out
    # short), resumable across sessions
    eipnet_w192_kd) run eipnet_w192_kd eipnet 6000 7e-5 '{}' --no-gan --init "$RUNS/eipnet_w192/eipnet.safetensors" --preload --loss-weight edge=0 --teacher models/eipnet_w192.safetensors --teacher models/jeanet_s.safetensors --teacher-weights 0.75,0.25 --teacher-flip --distill-weight 3 ;;
    # the next cycle: the same teachers (models/eipnet_w192 is now eipnet_w192_kd's result), from its weights.
    # Ran fitted into 135 minutes (3,947 steps): clean celeba_dev 25.755 -> 25.762 dB (64-face validation
    # 26.210 -> 26.218), where the first cycle gave +0.053; not bundled. The cycles have run out of gain.
    eipnet_w192_kd2) run eipnet_w192_kd2 eipnet 6000 6e-5 '{}' --no-gan --init "$RUNS/eipnet_w192_kd/eipnet.safetensors" --preload --loss-weight edge=0 --teacher models/eipnet_w192.safetensors --teacher models/jeanet_s.safetensors --teacher-weights 0.75,0.25 --teacher-flip --distill-weight 3 ;;
    # GPU runs (scripts/device_train.py run --minutes M ID...): the papers' configurations, time-budgeted
    # (--steps is only a cap), faces preloaded; W-Net with a one-level W path (the paper's three levels
    # reach 1024x1024 for a 128 px face)
    eipnet_paper) run eipnet_paper eipnet 200000 3e-4 '{}' --no-gan --batch 64 --preload --val-every 2000 --save-every 1000 ;;
    jeanet_paper) run jeanet_paper jeanet 200000 2e-4 '{}' --batch 32 --preload --val-every 2000 ;;
    priorsr_paper) run priorsr_paper priorsr 200000 2e-4 '{"residual": true}' --parsing "$PARSING" --batch 32 --preload --val-every 2000 ;;
    wnet_w1) run wnet_w1 wnet 200000 2e-4 '{"w_depth": 1}' --parsing "$PARSING" --batch 32 --preload --val-every 2000 ;;
    # GPU cycles of bundled models (time-budgeted, larger batches): the best clean x8 model with the pixel
    # terms, and the EIPNet camera model on 'realistic' inputs (the GPU image has no PyAV for H.264)
    eipnet_w128_gpu) run eipnet_w128_gpu eipnet 200000 1.5e-4 '{}' --no-gan --init models/eipnet_w128.safetensors --preload --loss-weight edge=0 --batch 128 --warmup 500 --val-every 2000 --save-every 1000 ;;
    eipnet_w192_gpu) run eipnet_w192_gpu eipnet 200000 1e-4 '{}' --no-gan --init models/eipnet_w192.safetensors --preload --loss-weight edge=0 --batch 128 --warmup 500 --val-every 2000 --save-every 1000 ;;
    eipnet_w128_cctv_gpu) run eipnet_w128_cctv_gpu eipnet 200000 1e-4 '{}' --no-gan --init models/eipnet_w128_cctv.safetensors --degradation realistic --jitter 0.04 --clean-share 0.25 --batch 64 --workers 10 --val-every 2000 --save-every 1000 ;;
    # a seconds-long stand-in for the device workflow's tests (tiny EIPNet)
    device_smoke) run device_smoke eipnet 100000 4e-4 '{"width": 16}' --no-gan --preload --warmup 12 --val-every 100000 ;;
    bundle)   # RUN: run folder when it differs from the id; PRIOR_STEPS: steps of the run it was --init from
        id=$2; wall=$3; hardware=${4:-}; run_id=${RUN:-$id}
        [[ -d "$RUNS/parsing_dev" ]] && PARSING_DEV="$RUNS/parsing_dev"
        ckpt=$(ls "$RUNS/$run_id"/*.safetensors | head -n1)   # the run's EMA weights, <net>.safetensors
        if [[ -f "$RUNS/$run_id/state.pt" ]]; then
            read -r steps batch < <(python3 -c "import json,sys,torch; s = torch.load(sys.argv[1], weights_only=True)
print(s['step'], json.loads(s['config'])['batch_size'])" "$RUNS/$run_id/state.pt")
        else   # a run on the GPU machine: scripts/device_train.py unpack wrote its step and batch
            read -r steps batch < <(python3 -c "import json,sys; s = json.load(open(sys.argv[1]))
print(s['step'], s['batch'])" "$RUNS/$run_id/device_run.json")
        fi
        steps=$((steps + ${PRIOR_STEPS:-0}))
        python3 scripts/bundle_model.py "$ckpt" --id "$id" --dev "$DATA/celeba_dev" --steps "$steps" --batch "$batch" \
            --wall-time-s "$wall" ${hardware:+--hardware "$hardware"} --data "celeba_train (4,806 aligned CelebA photos, 200 identities)" \
            --recipe "facesr train $(sed -n "s/^ *$run_id) run $run_id \(.*\) ;;$/\1/p" "$0"), batch $batch, cosine (warm-up 200 unless --warmup), EMA 0.999" \
            --notes "${NOTES:-}" ${PARSING_DEV:+--parsing-dev "$PARSING_DEV"} ${MODELS:+--models "$MODELS"}
        ;;
    *) sed -n '2,11p' "$0"; exit 2 ;;
esac
}
main "$@"; exit $?
