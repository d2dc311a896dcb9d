// The local stand-in for AWS: moto's server on 127.0.0.1, checking SigV4 signatures, with the
// project's CloudFormation template applied. Used by `make demo` and by the tests.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
} from "@aws-sdk/client-cloudformation";
import { DynamoDBClient, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
import { GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs";
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
  PutUserPolicyCommand,
} from "@aws-sdk/client-iam";
import { ensureFree, freePort, waitFor } from "./ports.mjs";
import { start } from "./processes.mjs";
import { startSerialProxy } from "./proxy.mjs";

// Node 20 is what this machine has; the SDK's notice about Node 22 is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const REGION = "us-east-1";

/** The unauthenticated calls moto allows before it checks every signature: IAM bootstrap. */
const BOOTSTRAP_CALLS = 3;

/**
 * Starts the emulator and creates the stores. Resolves to what clients need: `endpoint`,
 * `region`, `credentials` (an access key made through the emulator's IAM, so signatures are
 * verified), the stack's outputs (`table`, `bucket`, `topicArn`, `deadLetterQueue`), and
 * `stop()`.
 */
export async function startEmulator({ port, echo = false } = {}) {
  port = port ? await ensureFree(port, "AWS emulator") : await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const motoPort = await freePort();
  const moto = start(
    "moto",
    path.join(root, ".venv/bin/moto_server"),
    ["-H", "127.0.0.1", "-p", String(motoPort)],
    { env: { INITIAL_NO_AUTH_ACTION_COUNT: String(BOOTSTRAP_CALLS) }, echo },
  );
  const serial = await startSerialProxy(port, motoPort);
  try {
    await waitFor("AWS emulator", async () => (await fetch(`${endpoint}/moto-api/data.json`)).ok, {
      process: moto.child,
    });
    const credentials = await bootstrapKey(endpoint);
    const outputs = await applyTemplate(endpoint, credentials);
    // The emulator ignores TimeToLiveSpecification in templates; AWS honours it.
    await new DynamoDBClient(clientOptions(endpoint, credentials)).send(
      new UpdateTimeToLiveCommand({
        TableName: outputs.Table,
        TimeToLiveSpecification: { AttributeName: "expires_at", Enabled: true },
      }),
    );
    // A queue's Ref is an AWS-style URL the emulator does not serve; ask it for its own.
    const sqs = new SQSClient(clientOptions(endpoint, credentials));
    const queueUrl = async (QueueName) =>
      (await sqs.send(new GetQueueUrlCommand({ QueueName }))).QueueUrl;
    return {
      endpoint,
      region: REGION,
      credentials,
      table: outputs.Table,
      bucket: outputs.Bucket,
      topicArn: outputs.Topic,
      deadLetterQueueUrl: await queueUrl(outputs.DeadLetterQueue),
      alertsQueueUrl: await queueUrl(outputs.AlertsInbox),
      /** Client options for any @aws-sdk client. */
      /** Options for any @aws-sdk client (a fresh copy: the SDK writes into what it is given). */
      client: () => clientOptions(endpoint, credentials),
      stop: async () => {
        await moto.stop();
        await serial.stop();
      },
    };
  } catch (e) {
    await moto.stop();
    await serial.stop();
    throw new Error(`${e.message}\n--- emulator output ---\n${moto.output()}`);
  }
}

function clientOptions(endpoint, credentials) {
  return { endpoint, region: REGION, credentials: { ...credentials }, forcePathStyle: true };
}

/** Creates an IAM user allowed everything, and an access key for it. */
async function bootstrapKey(endpoint) {
  const iam = new IAMClient({
    endpoint,
    region: REGION,
    credentials: { accessKeyId: "AKIDBOOTSTRAP", secretAccessKey: "bootstrap" },
  });
  const user = "spoor-collector";
  await iam.send(new CreateUserCommand({ UserName: user }));
  await iam.send(
    new PutUserPolicyCommand({
      UserName: user,
      PolicyName: "spoor-all",
      PolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }],
      }),
    }),
  );
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: user }));
  return { accessKeyId: AccessKey.AccessKeyId, secretAccessKey: AccessKey.SecretAccessKey };
}

/** Applies infra/cloudformation.yaml and returns its outputs by name. */
async function applyTemplate(endpoint, credentials) {
  const cfn = new CloudFormationClient(clientOptions(endpoint, credentials));
  const TemplateBody = await readFile(path.join(root, "infra/cloudformation.yaml"), "utf8");
  const StackName = "spoor";
  await cfn.send(new CreateStackCommand({ StackName, TemplateBody }));
  const stack = await waitFor("CloudFormation stack", async () => {
    const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName }));
    const s = Stacks[0];
    if (s.StackStatus.endsWith("_FAILED") || s.StackStatus.startsWith("ROLLBACK")) {
      throw new Error(`stack ${s.StackStatus}: ${s.StackStatusReason}`);
    }
    return s.StackStatus === "CREATE_COMPLETE" && s;
  });
  return Object.fromEntries(stack.Outputs.map((o) => [o.OutputKey, o.OutputValue]));
}

// As a command: start, print the connection details as one JSON line, and run until stdin
// closes or a signal arrives (so a test process that dies takes the emulator with it).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2]) || undefined;
  // SPOOR_EMULATOR_ECHO=1 shows the emulator's own log (on stderr), to debug a failing call.
  const emu = await startEmulator({ port, echo: Boolean(process.env.SPOOR_EMULATOR_ECHO) });
  const { stop, client, ...info } = emu;
  process.stdout.write(`${JSON.stringify(info)}\n`);
  const quit = async () => {
    await stop();
    process.exit(0);
  };
  process.stdin.on("end", quit);
  process.stdin.on("close", quit);
  process.stdin.resume();
}
