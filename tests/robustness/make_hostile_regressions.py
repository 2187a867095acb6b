#!/usr/bin/python3
"""Writes the hand-made hostile inputs of tests/robustness/fuzz_regressions/.

Each file is named <expected>-<what>, expected being "accepted" or "rejected":
fuzz_regression_test replays every file through its target and checks that
the target returns that result (and does not crash). These inputs are the
fuzz targets' forms of cases the hostile-input runs over gRPC tried (huge
shapes, size claims that overflow, truncated streams, 20,000-byte names).
(also the V2 codec's: nesting, binary sizes, length prefixes).
Run from anywhere; it rewrites the files in place.
"""
import os
import struct
import zlib

R = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fuzz_regressions')
def varint(n):
    out=b''
    n &= (1<<64)-1
    while True:
        b=n&0x7f; n>>=7
        if n: out+=bytes([b|0x80])
        else: return out+bytes([b])
def field(num, wt, payload):
    key=varint((num<<3)|wt)
    if wt==2: return key+varint(len(payload))+payload
    return key+payload
def w(target,name,data):
    os.makedirs(f'{R}/{target}',exist_ok=True)
    open(f'{R}/{target}/{name}','wb').write(data)
# predict: a FloatTensor with 20,000 dimensions (the hostile-input run's case)
shape=b''.join(varint(28) for _ in range(20000))
w('predict','rejected-tensor-with-20000-dimensions', field(1,2, field(1,2,shape)))
# predict: shape [2^62, 28, 28] with no values: the element count overflows int64
shape=varint(1<<62)+varint(28)+varint(28)
w('predict','rejected-tensor-shape-whose-size-overflows', field(1,2, field(1,2,shape)))
# predict: a negative dimension
shape=varint(-1)+varint(28)+varint(28)
w('predict','rejected-tensor-negative-dimension', field(1,2, field(1,2,shape)))
# predict: pixels whose length is not a multiple of 784
w('predict','rejected-pixels-not-a-whole-image', field(2,2, field(1,2,b'\x00'*785)))
# predict: NaN value
vals=struct.pack('<f',float('nan'))*784
shape=varint(1)+varint(28)+varint(28)
w('predict','rejected-tensor-with-nan', field(1,2, field(1,2,shape)+field(2,2,vals)))
# idx: 3-D ubyte header claiming 2^31-1 images of 28x28 with no data
w('idx','rejected-count-claims-more-than-the-file-holds', b'\x00\x00\x08\x03'+struct.pack('>III',0x7fffffff,28,28))
# idx: dimensions whose product overflows 64 bits
w('idx','rejected-dimension-product-overflows', b'\x00\x00\x08\x04'+struct.pack('>IIII',0xffffffff,0xffffffff,0xffffffff,0xffffffff))
# idx: unknown type code
w('idx','rejected-unknown-type-code', b'\x00\x00\x07\x01'+struct.pack('>I',1)+b'\x00')
# png: a valid signature and IHDR claiming 100000 x 100000 pixels
def chunk(t,d): return struct.pack('>I',len(d))+t+d+struct.pack('>I',zlib.crc32(t+d)&0xffffffff)
sig=b'\x89PNG\r\n\x1a\n'
ihdr=struct.pack('>IIBBBBB',100000,100000,8,0,0,0,0)
w('png','rejected-100000x100000-header', sig+chunk(b'IHDR',ihdr)+chunk(b'IDAT',zlib.compress(b'\x00'*10))+chunk(b'IEND',b''))
# png: IDAT truncated mid-stream
ihdr=struct.pack('>IIBBBBB',28,28,8,0,0,0,0)
raw=b''.join(b'\x00'+bytes(range(28)) for _ in range(28))
w('png','rejected-truncated-idat', sig+chunk(b'IHDR',ihdr)+chunk(b'IDAT',zlib.compress(raw)[:40])+chunk(b'IEND',b''))
# model_spec (byte 0 odd: text format): a Dense layer over the parameter limit
w('model_spec','rejected-dense-over-the-parameter-limit', b'\x01'+b'input { height: 4096 width: 4096 } layers { flatten {} } layers { dense { units: 1000000 activation: ACTIVATION_SOFTMAX } }')
# model_spec: 10,000 nested-looking layers of a 20,000-byte name
w('model_spec','rejected-20000-byte-layer-name', b'\x01'+b'layers { name: "'+b'x'*20000+b'" flatten {} } layers { dense { units: 10 } }')
# model_file (byte 0 even: a whole file): the magic alone
w('model_file', 'rejected-magic-only', b'\x00NNSMODEL')
# model_file: a whole 24-byte header (magic, format version 1, payload
# length, CRC-32) that declares a 2^62-byte payload the file does not hold
w('model_file', 'rejected-payload-length-claim',
  b'\x00NNSMODEL' + struct.pack('<IQI', 1, 1 << 62, 0))
# model_file: a header of format version 2**32-1 over an empty payload
w('model_file', 'rejected-unknown-format-version',
  b'\x00NNSMODEL' + struct.pack('<IQI', 0xffffffff, 0, 0))
# v2_rest (byte 0 even: the body alone; odd: bytes 1-4 pick the
# Inference-Header-Content-Length modulo body size + 2, then the body)
def rest_input(tail, shape='[1,784]', datatype='FP32'):
    return ('{"inputs":[{"name":"images","datatype":"%s","shape":%s,%s}]}'
            % (datatype, shape, tail)).encode()
w('v2_rest', 'rejected-data-nested-100000-deep',
  b'\x00' + rest_input('"data":' + '[' * 100000 + ']' * 100000))
w('v2_rest', 'rejected-binary-data-size-claims-2-to-the-62',
  b'\x00' + rest_input('"parameters":{"binary_data_size":%d}' % (1 << 62)))
w('v2_rest', 'rejected-shape-claims-2-to-the-62-images',
  b'\x00' + rest_input('"data":[]', shape='[%d,784]' % (1 << 62)))
body = rest_input('"data":[]')
w('v2_rest', 'rejected-header-length-one-beyond-the-body',
  b'\x01' + struct.pack('<I', len(body) + 1) + body)
w('v2_rest', 'rejected-20000-byte-input-name',
  b'\x00' + b'{"inputs":[{"name":"' + b'x' * 20000 + b'","datatype":"FP32","shape":[1,784],"data":[]}]}')
w('v2_rest', 'rejected-bytes-element-length-beyond-the-data',
  b'\x01' + struct.pack('<I', 97) + rest_input('"parameters":{"binary_data_size":8}', shape='[1]', datatype='BYTES')[:97] + b'\xff\xff\xff\xffabcd')
# v2_grpc: serialized inference.ModelInferRequest (inputs 5: name 1,
# datatype 2, shape 3 packed, contents 5; raw_input_contents 7)
def grpc_input(datatype, shape, contents=b''):
    packed = b''.join(varint(d) for d in shape)
    return field(5, 2, field(1, 2, b'images') + field(2, 2, datatype) +
                 field(3, 2, packed) + contents)
w('v2_grpc', 'rejected-shape-claims-2-to-the-62-images',
  grpc_input(b'FP32', [1 << 62, 784]) + field(7, 2, b''))
w('v2_grpc', 'rejected-raw-bytes-element-claims-4-gigabytes',
  grpc_input(b'BYTES', [1]) + field(7, 2, b'\xff\xff\xff\xff' + b'\x89PNG'))
w('v2_grpc', 'rejected-raw-and-typed-contents-mixed',
  grpc_input(b'UINT8', [1, 784], field(5, 2, field(4, 2, varint(1)))) +
  field(7, 2, b'\x00' * 784))
w('v2_grpc', 'rejected-negative-dimension',
  grpc_input(b'UINT8', [-1, 784]) + field(7, 2, b''))
