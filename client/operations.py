"""The GraphQL documents the client sends, in one place so they are checked against schema.graphql by a test."""

AUTH_FIELDS = "accessToken refreshToken user { id email role } errors { code message field }"

REGISTER = f"mutation Register($input: RegisterInput!) {{ register(input: $input) {{ {AUTH_FIELDS} }} }}"
LOGIN = f"mutation Login($input: LoginInput!) {{ login(input: $input) {{ {AUTH_FIELDS} }} }}"
REFRESH = f"mutation Refresh($input: RefreshTokenInput!) {{ refreshToken(input: $input) {{ {AUTH_FIELDS} }} }}"
ME = "query Me { me { id email role } }"

ERRORS = "errors { code message field }"
JOB_FIELDS = "id kind status stage progress error question choices createdAt finishedAt"

UPLOAD = f"""mutation Upload($input: UploadDatasetInput!) {{ uploadDataset(input: $input) {{
  dataset {{ id name status }} job {{ {JOB_FIELDS} }} {ERRORS} }} }}"""

IMPORT = f"""mutation Import($input: ImportDatasetInput!) {{ importDataset(input: $input) {{
  dataset {{ id name status }} job {{ {JOB_FIELDS} }} {ERRORS} }} }}"""

DATASET_SUMMARY = "id name fileName status error rowCount columnCount sizeBytes createdAt"
COLUMNS = "columns { name index semanticType dtype nullCount }"

DATASETS = f"""query Datasets($first: Int, $after: String, $search: String) {{
  datasets(first: $first, after: $after, search: $search) {{ totalCount pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{ {DATASET_SUMMARY} }} }} }} }}"""

DATASET = f"""query Dataset($id: ID!) {{ dataset(id: $id) {{ {DATASET_SUMMARY} {COLUMNS}
  profile {{ alerts {{ kind column columns message }} }} }} }}"""

PROFILE_DATASET = f"""mutation Profile($input: ProfileDatasetInput!) {{ profileDataset(input: $input) {{
  job {{ {JOB_FIELDS} }} {ERRORS} }} }}"""

PROFILE = """query DatasetProfile($id: ID!) { dataset(id: $id) { id name profile {
  rowCount columnCount missingCells missingCellsRatio duplicateRows memoryBytes durationMs
  columns { name semanticType dtype count nullCount nullRatio distinctCount isUnique
    numeric { min max mean std median } topValues(limit: 3) { value count } }
  alerts { kind column columns message } } } }"""

TRAIN = f"""mutation Train($input: TrainModelInput!) {{ trainModel(input: $input) {{
  model {{ id status }} job {{ {JOB_FIELDS} }} {ERRORS} }} }}"""

MODEL = """query Model($id: ID!) { model(id: $id) { id name version target task algorithm status error trainingSeconds
  cvMetric metrics { accuracy balancedAccuracy f1 rocAuc logLoss r2 mae rmse }
  leaderboard { algorithm metric score std fitSeconds rows selected }
  features { name semanticType required } classes } }"""

PREDICT = f"""mutation Predict($input: PredictInput!) {{ predict(input: $input) {{
  predictions {{ value probabilities {{ label probability }} }} {ERRORS} }} }}"""

PREDICT_EXPLAINED = f"""mutation PredictExplained($input: PredictInput!) {{ predict(input: $input) {{
  predictions {{ value probabilities {{ label probability }}
    explanation {{ method outputSpace exact evaluationsPerRow backgroundRows
      outputs {{ label baseValue output contributions {{ feature contribution }} }} }} }} {ERRORS} }} }}"""

ANALYZE = f"""mutation Analyze($input: AnalyzeDatasetInput!) {{ analyzeDataset(input: $input) {{
  job {{ {JOB_FIELDS} }} {ERRORS} }} }}"""

ANSWER = (
    f"""mutation Answer($input: AnswerJobInput!) {{ answerJob(input: $input) {{ job {{ {JOB_FIELDS} }} {ERRORS} }} }}"""
)

REPORT = f"""mutation Report($input: GenerateReportInput!) {{ generateReport(input: $input) {{
  job {{ {JOB_FIELDS} }} {ERRORS} }} }}"""

JOBS = f"""query Jobs($first: Int, $status: [JobStatus!], $kind: [JobKind!]) {{
  jobs(first: $first, status: $status, kind: $kind) {{ totalCount edges {{ node {{ {JOB_FIELDS} }} }} }} }}"""

JOB = f"""query Job($id: ID!) {{ job(id: $id) {{ {JOB_FIELDS}
  dataset {{ id name }} model {{ id name }} report {{ id url model {{ id name }} }} }} }}"""

CANCEL = (
    f"""mutation Cancel($input: CancelJobInput!) {{ cancelJob(input: $input) {{ job {{ {JOB_FIELDS} }} {ERRORS} }} }}"""
)

JOB_EVENTS = f"""subscription JobEvents($jobId: ID!, $after: Int!) {{ jobEvents(jobId: $jobId, after: $after,
batch: true) {{
  kind job {{ {JOB_FIELDS} }} logs {{ seq level stage message }} }} }}"""

DOWNLOAD_LINK = """query DownloadLink($id: ID!, $data: DataFormat!, $model: ModelFormat!) { node(id: $id) {
  __typename
  ... on Dataset { name downloadUrl(format: $data) }
  ... on Model { name exportUrl(format: $model) }
  ... on Report { url }
  ... on Comparison { reportUrl } } }"""

REGISTRY_EVENT = "kind alias fromVersion toVersion comment actorEmail at"

REGISTER_MODEL = f"""mutation RegisterModel($input: RegisterModelInput!) {{ registerModel(input: $input) {{
  registeredModel {{ name latestVersion }} version {{ version reference allowSignatureChange model {{ id name }} }}
  {ERRORS} }} }}"""

SET_MODEL_ALIAS = f"""mutation SetModelAlias($input: SetModelAliasInput!) {{ setModelAlias(input: $input) {{
  alias {{ alias version reference }} event {{ {REGISTRY_EVENT} }} {ERRORS} }} }}"""

MODEL_HISTORY = f"""query ModelHistory($name: String!, $first: Int) {{ registeredModel(name: $name) {{
  name latestVersion aliases {{ alias version }}
  history(first: $first) {{ totalCount edges {{ node {{ {REGISTRY_EVENT} }} }} }} }} }}"""

CHECK_FIELDS = """column notNull unique min max pattern allowedValues semanticType minRows maxRows maxNullRatio
  drift { method threshold } onFail"""

SUGGEST_CHECKS = f"""query SuggestChecks($datasetId: ID!) {{ suggestChecks(datasetId: $datasetId) {{
  dataset {{ id name }} checks {{ {CHECK_FIELDS} }} }} }}"""

CREATE_CHECK_SUITE = f"""mutation CreateCheckSuite($input: CreateCheckSuiteInput!) {{ createCheckSuite(input: $input) {{
  suite {{ id name checks {{ {CHECK_FIELDS} }} }} {ERRORS} }} }}"""

VALIDATE_DATASET = f"""mutation ValidateDataset($input: ValidateDatasetInput!) {{ validateDataset(input: $input) {{
  validation {{ id }} job {{ {JOB_FIELDS} }} {ERRORS} }} }}"""

VALIDATION = """query Validation($id: ID!) { validation(id: $id) { id status passed failedCount
  dataset { id name } suite { id name }
  results { column rule expected passed observed failingRows examples onFail } } }"""

COMPARE = f"""mutation Compare($input: CompareDatasetsInput!) {{ compareDatasets(input: $input) {{
  job {{ {JOB_FIELDS} }} {ERRORS} }} }}"""

COMPARISON_OF_JOB = """query ComparisonOfJob($id: ID!) { job(id: $id) { id comparison { id datasetDrift driftShare
  shareThreshold driftedColumns testedColumns reportUrl reference { id name } current { id name }
  schemaDifference { added { name dtype } dropped { name dtype } typeChanged { name referenceDtype currentDtype } }
  sampling { sampled sampleRows referenceRows currentRows }
  columns { name kind drift { method score threshold drifted } note } } } }"""

WEBHOOK = "id url events jobKinds jobStatuses enabled description createdAt"

WEBHOOKS = (
    f"""query Webhooks($first: Int) {{ webhooks(first: $first) {{ totalCount edges {{ node {{ {WEBHOOK} }} }} }} }}"""
)

CREATE_WEBHOOK = f"""mutation CreateWebhook($input: CreateWebhookInput!) {{ createWebhook(input: $input) {{
  webhook {{ {WEBHOOK} }} secret {ERRORS} }} }}"""

DELETE_WEBHOOK = f"""mutation DeleteWebhook($input: DeleteWebhookInput!) {{ deleteWebhook(input: $input) {{
  webhook {{ id url }} {ERRORS} }} }}"""

WEBHOOK_DELIVERIES = """query WebhookDeliveries($id: ID!, $first: Int, $status: WebhookDeliveryStatus) {
  webhook(id: $id) { id url deliveries(first: $first, status: $status) { totalCount edges { node {
  deliveryId event status attempts responseCode lastError nextAttemptAt deliveredAt createdAt } } } } }"""

ALL = [
    REGISTER,
    LOGIN,
    REFRESH,
    ME,
    UPLOAD,
    IMPORT,
    DATASETS,
    DATASET,
    PROFILE_DATASET,
    PROFILE,
    TRAIN,
    MODEL,
    PREDICT,
    PREDICT_EXPLAINED,
    ANALYZE,
    ANSWER,
    REPORT,
    JOBS,
    JOB,
    CANCEL,
    JOB_EVENTS,
    DOWNLOAD_LINK,
    REGISTER_MODEL,
    SET_MODEL_ALIAS,
    MODEL_HISTORY,
    SUGGEST_CHECKS,
    CREATE_CHECK_SUITE,
    VALIDATE_DATASET,
    VALIDATION,
    COMPARE,
    COMPARISON_OF_JOB,
    WEBHOOKS,
    CREATE_WEBHOOK,
    DELETE_WEBHOOK,
    WEBHOOK_DELIVERIES,
]
