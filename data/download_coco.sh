#!/usr/bin/env bash
# Download MS-COCO images + caption annotations and the Karpathy split (caption_datasets.zip).
# Needs internet access and a lot of disk space. Run `data/download_coco.sh --help` for the options.
# The test suite never runs this script; it only checks `bash -n data/download_coco.sh`.
set -euo pipefail

COCO_URL="${COCO_URL:-http://images.cocodataset.org}"
COCO_ZIPS="$COCO_URL/zips"
COCO_ANN="$COCO_URL/annotations"
KARPATHY_URL="${KARPATHY_URL:-http://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip}"

usage() {
    cat <<EOF
Usage: data/download_coco.sh [OPTIONS] [DIR]

Download MS-COCO caption data into DIR (default: data/coco):

  DIR/train2014/ DIR/val2014/       COCO 2014 images (~13 GB + ~6 GB zipped)
  DIR/annotations/                  annotations_trainval2014.zip (~250 MB), with captions_*2014.json
  DIR/dataset_coco.json             the Karpathy split, from caption_datasets.zip (~36 MB);
                                    dataset_flickr8k.json and dataset_flickr30k.json come with it
  with --2017 also:
  DIR/train2017/ DIR/val2017/       COCO 2017 images (~18 GB + ~1 GB zipped)
  DIR/annotations/                  annotations_trainval2017.zip (~250 MB), with captions_*2017.json

Options:
  --dir DIR          target folder (same as the positional DIR)
  --2017             also download the 2017 images and annotations
  --only-2017        download the 2017 images and annotations instead of 2014
                     (the Karpathy split is still fetched; it refers to 2014 file names)
  --no-images        only annotations and the Karpathy split (a few hundred MB)
  --no-karpathy      skip caption_datasets.zip
  --keep-zips        keep the .zip files after unpacking (default: delete them)
  --dry-run          print what would be downloaded, download nothing
  -h, --help         show this help and exit

Downloads are resumable: interrupted files are kept as *.zip.part and continued
(wget -c / curl -C -) on the next run. Finished steps are remembered in DIR/.done-*
and skipped. wget is used if installed, else curl; unzip is required.

Environment:
  COCO_URL           another base URL (mirror) for the COCO zips/ and annotations/ folders
                     (default: $COCO_URL)
  KARPATHY_URL       another URL (mirror) for caption_datasets.zip
                     (default: $KARPATHY_URL)

Afterwards, train on the Karpathy split with:
  captioning train --dataset DIR/dataset_coco.json --images DIR --out runs/full
EOF
}

dir="data/coco"
with_2014=1
with_2017=0
images=1
karpathy=1
keep_zips=0
dry_run=0

while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --dir) [[ $# -ge 2 ]] || { echo "download_coco.sh: --dir needs a value" >&2; exit 2; }
               dir="$2"; shift ;;
        --dir=*) dir="${1#--dir=}" ;;
        --2017) with_2017=1 ;;
        --only-2017) with_2017=1; with_2014=0 ;;
        --no-images) images=0 ;;
        --no-karpathy) karpathy=0 ;;
        --keep-zips) keep_zips=1 ;;
        --dry-run) dry_run=1 ;;
        -*) echo "download_coco.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
        *) dir="$1" ;;
    esac
    shift
done

if command -v wget >/dev/null 2>&1; then
    fetch() { wget -c --tries=5 --progress=dot:giga -O "$2" "$1"; }
elif command -v curl >/dev/null 2>&1; then
    fetch() {
        local rc=0
        curl -fL --retry 5 -C - -o "$2" "$1" || rc=$?
        if [[ $rc -eq 33 ]]; then  # the server cannot resume: start this file again
            rm -f "$2"
            curl -fL --retry 5 -o "$2" "$1"
        else
            return $rc
        fi
    }
else
    if [[ $dry_run -eq 0 ]]; then
        echo "download_coco.sh: needs wget or curl" >&2; exit 1
    fi
fi
if [[ $dry_run -eq 0 ]] && ! command -v unzip >/dev/null 2>&1; then
    echo "download_coco.sh: needs unzip" >&2; exit 1
fi

# get URL: download URL into DIR/NAME.zip (resumably), unpack it into DIR.
get() {
    local url="$1" name zip marker
    name="$(basename "$url" .zip)"
    zip="$dir/$name.zip"
    marker="$dir/.done-$name"
    if [[ $dry_run -eq 1 ]]; then
        echo "would download $url -> $zip, unpack into $dir/"
        return
    fi
    if [[ -e "$marker" ]]; then
        echo "== $name: already done (delete $marker to redo)"
        return
    fi
    if [[ ! -s "$zip" ]]; then
        echo "== downloading $url"
        fetch "$url" "$zip.part"
        mv "$zip.part" "$zip"
    fi
    echo "== unpacking $zip into $dir/"
    if ! unzip -q -o "$zip" -d "$dir"; then
        echo "download_coco.sh: could not unpack $zip; delete it and run again" >&2
        exit 1
    fi
    touch "$marker"
    if [[ $keep_zips -eq 0 ]]; then
        rm -f "$zip"
    fi
}

[[ $dry_run -eq 1 ]] || mkdir -p "$dir"

if [[ $with_2014 -eq 1 ]]; then
    get "$COCO_ANN/annotations_trainval2014.zip"       # -> DIR/annotations/captions_{train,val}2014.json
    if [[ $images -eq 1 ]]; then
        get "$COCO_ZIPS/val2014.zip"                   # -> DIR/val2014/
        get "$COCO_ZIPS/train2014.zip"                 # -> DIR/train2014/
    fi
fi
if [[ $with_2017 -eq 1 ]]; then
    get "$COCO_ANN/annotations_trainval2017.zip"       # -> DIR/annotations/captions_{train,val}2017.json
    if [[ $images -eq 1 ]]; then
        get "$COCO_ZIPS/val2017.zip"                   # -> DIR/val2017/
        get "$COCO_ZIPS/train2017.zip"                 # -> DIR/train2017/
    fi
fi
if [[ $karpathy -eq 1 ]]; then
    get "$KARPATHY_URL"                                # -> DIR/dataset_{coco,flickr8k,flickr30k}.json
    # some mirrors of caption_datasets.zip wrap the files in a caption_datasets/ folder
    if [[ $dry_run -eq 0 && ! -e "$dir/dataset_coco.json" && -e "$dir/caption_datasets/dataset_coco.json" ]]; then
        mv "$dir"/caption_datasets/dataset_*.json "$dir"/
        rmdir "$dir/caption_datasets" 2>/dev/null || true
    fi
fi

[[ $dry_run -eq 1 ]] && exit 0

echo
echo "Done. Data is in $dir."
if [[ $karpathy -eq 1 && $with_2014 -eq 1 && $images -eq 1 ]]; then
    echo "Next step, train on the Karpathy split (filepath train2014/val2014 resolves against --images):"
    echo "  captioning train --dataset $dir/dataset_coco.json --images $dir --out runs/full"
elif [[ $with_2017 -eq 1 && $images -eq 1 ]]; then
    echo "Next step, make a split of COCO 2017 train and train on it:"
    echo "  captioning split --coco-annotations $dir/annotations/captions_train2017.json \\"
    echo "      --images $dir/train2017 --val 5000 --test 5000 --out splits/coco-train2017.json"
    echo "  captioning train --dataset splits/coco-train2017.json --out runs/coco2017"
else
    echo "Next step: download the images too (run again without --no-images), then see data/README.md."
fi
