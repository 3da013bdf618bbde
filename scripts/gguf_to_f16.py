#!/usr/bin/env python3
"""Writes a GGUF file's model again with every tensor dequantized (by the `gguf` package,
llama.cpp's own Python library): 2-D weights as F16, the rest as F32, the metadata as
it was (general.file_type set to F16). Ollama's `create --quantize` only quantizes from
such a file; scripts/make_kquant.sh uses it to make a real Q4_K_M from the Q4_1 file
scripts/setup.sh unpacks.

usage: gguf_to_f16.py IN.gguf OUT.gguf
"""
import sys

import numpy as np
import gguf
from gguf import GGUFValueType as V


def main(src, dst):
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(dst, arch)
    for name, field in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value = field.contents()
        if name == "general.file_type":
            value = int(gguf.LlamaFileType.MOSTLY_F16)
        kind = field.types[0]
        sub = field.types[-1] if kind == V.ARRAY else None
        w.add_key_value(name, value, kind, sub_type=sub)
    for t in r.tensors:
        x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        x = x.reshape([int(d) for d in reversed(t.shape)])
        w.add_tensor(t.name, x.astype(np.float16) if x.ndim == 2 else x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
