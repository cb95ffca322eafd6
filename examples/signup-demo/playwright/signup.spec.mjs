import { expect, test } from "@ephemail/client/playwright";

test("signs up with the code from the verification mail", async ({ page, inbox, mail }) => {
  await page.goto(process.env.DEMO_URL);
  await page.getByLabel("Email").fill(inbox.address);
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page.locator("#email")).toHaveText(inbox.address);

  const code = await mail.waitForCode({ inboxId: inbox.id, timeoutMs: 30000 });
  await page.getByLabel("Code").fill(code);
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page.locator("#done")).toHaveText(`Verified ${inbox.address}`);
});
