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

/** Waits until a session's partition holds `ready` items, or until `ready(items)` holds
 * (events arrive through a queue, in batches sent at different times). */
export function sessionEvents(emulator, site, sid, ready, timeoutMs = 30_000) {
  const done = typeof ready === "function" ? ready : (items) => items.length >= ready;
  return waitFor(
    `${typeof ready === "function" ? "the expected" : ready} events of session ${sid} in DynamoDB`,
    async () => {
      const items = await partition(emulator, `S#${site}#${sid}`);
      return done(items) && items;
    },
    { timeoutMs, everyMs: 250 },
  );
}

/** The S3 object at `key`, as text, or null if there is none. */
export async function s3Text(emulator, key) {
  const { S3Client, GetObjectCommand } = await import("@aws-sdk/client-s3");
  const s3 = new S3Client(emulator.client());
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: emulator.bucket, Key: key }));
    return await out.Body.transformToString();
  } catch (e) {
    if (e.name === "NoSuchKey") return null;
    throw e;
  }
}

/** Every key in the bucket under `prefix`. */
export async function s3Keys(emulator, prefix = "") {
  const { S3Client, ListObjectsV2Command } = await import("@aws-sdk/client-s3");
  const s3 = new S3Client(emulator.client());
  const out = await s3.send(new ListObjectsV2Command({ Bucket: emulator.bucket, Prefix: prefix }));
  return (out.Contents || []).map((o) => o.Key);
}

/** Every item in the table (small test tables only). */
export async function scanAll(emulator) {
  const { ScanCommand } = await import("@aws-sdk/client-dynamodb");
  const db = dynamo(emulator);
  const items = [];
  let ExclusiveStartKey;
  do {
    const out = await db.send(new ScanCommand({ TableName: emulator.table, ExclusiveStartKey }));
    items.push(...out.Items.map((i) => unmarshall(i)));
    ExclusiveStartKey = out.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}

/**
 * Drains the alerts queue (the SQS queue subscribed to the SNS topic): every alert published
 * so far, as `{ message, attributes }`.
 */
export async function drainAlerts(emulator) {
  const { SQSClient, ReceiveMessageCommand, DeleteMessageCommand } = await import(
    "@aws-sdk/client-sqs"
  );
  const sqs = new SQSClient(emulator.client());
  const alerts = [];
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: emulator.alertsQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    if (!out.Messages || out.Messages.length === 0) return alerts;
    for (const m of out.Messages) {
      const note = JSON.parse(m.Body);
      alerts.push({
        message: JSON.parse(note.Message),
        attributes: Object.fromEntries(
          Object.entries(note.MessageAttributes || {}).map(([k, v]) => [k, v.Value]),
        ),
      });
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: emulator.alertsQueueUrl, ReceiptHandle: m.ReceiptHandle }),
      );
    }
  }
}
