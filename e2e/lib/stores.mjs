// Reading back what the collector wrote, with the AWS SDK for JavaScript: an independent client,
// so the tests check the stores as any consumer of the data would see them.
import { DynamoDBClient, QueryCommand } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { waitFor } from "../../scripts/lib/ports.mjs";

export function dynamo(emulator) {
  return new DynamoDBClient(emulator.client());
}

/** Every item of one partition, plain JS objects, in sort-key order. */
export async function partition(emulator, pk) {
  const db = dynamo(emulator);
  const items = [];
  let ExclusiveStartKey;
  do {
    const out = await db.send(
      new QueryCommand({
        TableName: emulator.table,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": { S: pk } },
        ExclusiveStartKey,
      }),
    );
    items.push(...out.Items.map((i) => unmarshall(i)));
    ExclusiveStartKey = out.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}

/** Waits until a session's partition holds `count` items (events arrive through a queue). */
export function sessionEvents(emulator, site, sid, count, timeoutMs = 30_000) {
  return waitFor(
    `${count} events of session ${sid} in DynamoDB`,
    async () => {
      const items = await partition(emulator, `S#${site}#${sid}`);
      return items.length >= count && items;
    },
    { timeoutMs, everyMs: 250 },
  );
}
