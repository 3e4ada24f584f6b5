/**
 * The fused bilinear grid sample on WebGPU (`DynavitGridSample`): one invocation per output value
 * (n, y, x, c), torch's arithmetic of `grid-sample.ts` in float32 (unnormalise, floor, the four corner
 * weights zeroed outside the map, ((nw + ne) + sw) + se). The composite of `grid-sample.ts` is the
 * reference it is tested against (backend-node's WebGPU suite, on Dawn).
 */
import { flatDispatch, type WebGPUProgramLike, wgslFloat } from './webgpu-program.js';

/** input [N, H, W, C], grid [N, Ho, Wo, 2] (x, y) → [N, Ho, Wo, C]. */
export function gridSampleProgram(
  inputShape: readonly [number, number, number, number],
  gridShape: readonly [number, number, number, number],
  alignCorners: boolean,
  border: boolean,
): WebGPUProgramLike {
  const [n, h, w, c] = inputShape;
  const [, ho, wo] = gridShape;
  const outputShape = [n, ho, wo, c];
  const size = n * ho * wo * c;
  // ix = (gx + 1)·((W−1)/2) aligned, (gx + 1)·(W/2) − 0.5 otherwise; 'border' clamps into [0, W−1]
  const coord = (g: string, len: number) => {
    const v = alignCorners
      ? `(${g} + 1.0) * ${wgslFloat((len - 1) / 2)}`
      : `(${g} + 1.0) * ${wgslFloat(len / 2)} - 0.5`;
    return border ? `clamp(${v}, 0.0, ${wgslFloat(len - 1)})` : v;
  };
  return {
    variableNames: ['input', 'grid'],
    outputShape,
    shaderKey: `dynavitGridSample_${inputShape.join('x')}_${gridShape.join('x')}_${alignCorners ? 1 : 0}${border ? 1 : 0}`,
    ...flatDispatch(outputShape, size),
    getUserCode: () => `
      const GS_H = ${h};
      const GS_W = ${w};
      const GS_C = ${c};

      // the value at integer corner (x, y) of image b times its weight; 0 outside the map
      fn gsCorner(b : i32, x : f32, y : f32, ch : i32, weight : f32) -> f32 {
        if (x < 0.0 || y < 0.0 || x > ${wgslFloat(w - 1)} || y > ${wgslFloat(h - 1)}) {
          return 0.0;
        }
        return input[((b * GS_H + i32(y)) * GS_W + i32(x)) * GS_C + ch] * weight;
      }

      fn main(index : i32) {
        if (index >= uniforms.size) {
          return;
        }
        let ch = index % GS_C;
        let p = index / GS_C;
        let b = p / ${ho * wo};
        let gx = grid[p * 2];
        let gy = grid[p * 2 + 1];
        let ix = ${coord('gx', w)};
        let iy = ${coord('gy', h)};
        let x0 = floor(ix);
        let y0 = floor(iy);
        let dw = ix - x0;
        let de = 1.0 - dw;
        let dn = iy - y0;
        let ds = 1.0 - dn;
        let v = ((gsCorner(b, x0, y0, ch, ds * de) + gsCorner(b, x0 + 1.0, y0, ch, ds * dw))
          + gsCorner(b, x0, y0 + 1.0, ch, dn * de)) + gsCorner(b, x0 + 1.0, y0 + 1.0, ch, dn * dw);
        result[index] = v;
      }
    `,
  };
}
