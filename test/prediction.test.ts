// Port prediction for sequential NATs: known inputs, known ports.
import { expect, test } from "bun:test";
import { PREDICT_WINDOW } from "../src/constants.ts";
import { predictedAddresses } from "../src/client/prediction.ts";

const table: Array<[string, number, number, number[]]> = [
  // [name, seen port P, step, first predicted ports]: P + step went to the server's alternate port.
  ["step 1", 40000, 1, [40002, 40003, 40004]],
  ["step 2", 40000, 2, [40004, 40006, 40008]],
  ["step -1 (counting down)", 40000, -1, [39998, 39997, 39996]],
];
for (const [name, seen, step, first] of table) {
  test(name, () => {
    const got = predictedAddresses({ ip: "198.51.100.7", port: seen }, step);
    expect(got).toHaveLength(PREDICT_WINDOW);
    expect(got.slice(0, 3).map((a) => a.port)).toEqual(first);
    expect(got.every((a) => a.ip === "198.51.100.7")).toBe(true);
  });
}

test("never outside 1..65535", () => {
  expect(predictedAddresses({ ip: "198.51.100.7", port: 65530 }, 1).map((a) => a.port)).toEqual([65532, 65533, 65534, 65535]);
  expect(predictedAddresses({ ip: "198.51.100.7", port: 5 }, -1).map((a) => a.port)).toEqual([3, 2, 1]);
});
