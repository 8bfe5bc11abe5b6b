"""Small safetensors helper for the shell tests (standard library + numpy).

  st_tool.py keys FILE                      print "name dtype shape" per tensor
  st_tool.py drop SRC DST NAME              copy SRC without tensor NAME
  st_tool.py reshape SRC DST NAME           copy SRC with NAME's last dim cut by one
  st_tool.py raw DST HEADER_JSON NBYTES [HEADER_LEN]   write a hand-made file
  st_tool.py compare A KEY_A B KEY_B        max |a-b| within 1e-4 + 1e-4|b| (exit 1 if not)
"""
import json
import struct
import sys

import numpy as np

DT = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "F64": np.float64}


def read(path):
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    header = json.loads(buf[8:8 + n])
    data = buf[8 + n:]
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        if v["dtype"] == "BF16":
            u = np.frombuffer(data[b:e], dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(data[b:e], dtype=DT[v["dtype"]])
        out[k] = (v["dtype"], arr.reshape(v["shape"]))
    return out


def write(path, tensors):
    header, blobs, off = {}, [], 0
    for k, (dt, arr) in tensors.items():
        raw = np.ascontiguousarray(arr).tobytes()
        header[k] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main(argv):
    cmd = argv[1]
    if cmd == "keys":
        for k, (dt, a) in read(argv[2]).items():
            print(k, dt, list(a.shape))
    elif cmd == "drop":
        t = read(argv[2])
        del t[argv[4]]
        write(argv[3], t)
    elif cmd == "reshape":
        t = read(argv[2])
        dt, a = t[argv[4]]
        t[argv[4]] = (dt, a[..., :-1])
        write(argv[3], t)
    elif cmd == "raw":
        h = argv[3].encode()
        hl = int(argv[5]) if len(argv) > 5 else len(h)
        with open(argv[2], "wb") as f:
            f.write(struct.pack("<Q", hl) + h + b"\0" * int(argv[4]))
    elif cmd == "compare":
        a = read(argv[2])[argv[3]][1].astype(np.float64)
        b = read(argv[4])[argv[5]][1].astype(np.float64)
        a = a.reshape(b.shape)
        bad = np.abs(a - b) > 1e-4 + 1e-4 * np.abs(b)
        print("max |diff| %.3g" % np.max(np.abs(a - b)))
        return 1 if bad.any() else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
