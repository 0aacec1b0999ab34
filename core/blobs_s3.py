"""Core blob store on S3 (AWS, SeaweedFS, MinIO...) for matched media and staged bodies.

Chosen by ``blobs = "s3://bucket/prefix"``. Credentials come from the normal boto3 chain
(``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, shared files, instance roles); a non-AWS
server is reached through ``s3_endpoint_url``. Failures are sorted into the pipeline's error
root so consumer loops know whether to retry: network trouble, throttling and 5xx answers are
:class:`TransientError`; a wrong bucket or refused credentials are :class:`ConfigError`.
"""

from __future__ import annotations

from typing import Any, NoReturn
from urllib.parse import urlsplit

from core.blobs import BlobStore, check_key
from core.errors import ConfigError, PermanentError, TransientError
from core.optional import require

# Error codes S3 servers send when asked to slow down or when they hiccup: retry later.
_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "OperationAborted",
    }
)
# Codes that mean the deployment is wrong, not the object: no retry can fix them.
_CONFIG_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "InvalidBucketName",
        "InvalidToken",
        "ExpiredToken",
        "NoSuchBucket",
        "SignatureDoesNotMatch",
        "AuthorizationHeaderMalformed",
        "PermanentRedirect",
    }
)
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
# A HEAD has no body, so a missing bucket shows up as a bare 404 there.
_MISSING_BUCKET_CODES = frozenset({"NoSuchBucket", "404", "NotFound"})


class S3BlobStore(BlobStore):
    """Bytes by key in one S3 bucket, under an optional key prefix.

    A single ``PutObject`` is atomic on S3: readers see the old object or the new one, never
    half of either, so :meth:`put` needs no temp-then-rename dance.

    Args:
        bucket: The bucket name.
        prefix: Key prefix inside the bucket (no leading or trailing ``/`` needed).
        endpoint_url: S3 endpoint for non-AWS servers; ``None`` means AWS.
        create_bucket: Create the bucket at construction if it does not exist (for embedded
            or test deployments; production buckets are provisioned by the operator).
        client: A ready boto3 S3 client, e.g. with custom retry settings; built from the
            default credential chain when omitted.

    Raises:
        ConfigError: If the bucket name is empty, or ``create_bucket`` is set and the bucket
            can neither be found nor created.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        create_bucket: bool = False,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise ConfigError("S3 blob store needs a bucket name: s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            try:
                check_key(self.prefix)
            except PermanentError as exc:
                raise ConfigError(f"invalid S3 key prefix {prefix!r}") from exc
        self.endpoint_url = endpoint_url
        self._botocore_exceptions = require("botocore.exceptions", "s3")
        self._failures: tuple[type[Exception], ...] = (
            self._botocore_exceptions.ClientError,
            self._botocore_exceptions.BotoCoreError,
        )
        if client is None:
            boto3 = require("boto3", "s3")
            botocore_config = require("botocore.config", "s3")
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint_url,
                config=botocore_config.Config(
                    retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=10,
                    read_timeout=60,
                ),
            )
        self._client = client
        # A HEAD answers a bare 404 for a missing bucket and a missing key alike; the bucket
        # is checked once, the first time that matters, so exists() never hides a wrong bucket.
        self._bucket_seen = False
        if create_bucket:
            self._ensure_bucket()

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None, create_bucket: bool = False) -> S3BlobStore:
        """Open ``s3://bucket/prefix``.

        Args:
            url: The blob-store URL.
            endpoint_url: S3 endpoint for non-AWS servers.
            create_bucket: Create the bucket if it does not exist.

        Raises:
            ConfigError: If the URL is not ``s3://bucket[/prefix]``.
        """
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(f"invalid S3 blob store URL {url!r}: use s3://bucket/prefix")
        return cls(
            parts.netloc,
            parts.path,
            endpoint_url=endpoint_url,
            create_bucket=create_bucket,
        )

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint_url={self.endpoint_url!r})"

    def _object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _where(self) -> str:
        return f"s3://{self.bucket}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")

    def _raise(self, exc: Exception, action: str, key: str | None) -> NoReturn:
        """Translate a boto3/botocore failure into the pipeline's error root."""
        errors = self._botocore_exceptions
        what = f"S3 {action} of {key!r} in {self._where()}" if key else f"S3 {action} on {self._where()}"
        if isinstance(exc, errors.ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            message = err.get("Message") or code
            if code == "NoSuchBucket":
                raise ConfigError(f"{what} failed: bucket {self.bucket!r} does not exist") from exc
            if code in _CONFIG_CODES or status in (401, 403):
                raise ConfigError(f"{what} refused ({code}): {message}; check the S3 credentials and bucket") from exc
            if code in _TRANSIENT_CODES or status == 429 or status >= 500:
                raise TransientError(f"{what} failed ({code or status}): {message}") from exc
            raise PermanentError(f"{what} failed ({code or status}): {message}") from exc
        if isinstance(exc, errors.NoCredentialsError | errors.PartialCredentialsError | errors.NoRegionError):
            raise ConfigError(f"{what}: {exc}") from exc
        if isinstance(exc, errors.ParamValidationError):
            raise PermanentError(f"{what}: {exc}") from exc
        # Connection refused, timeouts, reset streams: the network, which may recover.
        raise TransientError(f"{what} failed: {exc}") from exc

    def _is_missing(self, exc: Exception) -> bool:
        """Whether a ClientError says the *object* is missing (not the bucket)."""
        if not isinstance(exc, self._botocore_exceptions.ClientError):
            return False
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return code in _MISSING_KEY_CODES

    def _check_bucket(self) -> None:
        """Raise ConfigError if the bucket is missing; remembered once it has been seen."""
        if self._bucket_seen:
            return
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except self._botocore_exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_BUCKET_CODES:
                raise ConfigError(f"S3 bucket {self.bucket!r} does not exist ({self._where()})") from exc
            self._raise(exc, "bucket check", None)
        except self._botocore_exceptions.BotoCoreError as exc:
            self._raise(exc, "bucket check", None)
        self._bucket_seen = True

    def _ensure_bucket(self) -> None:
        errors = self._botocore_exceptions
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except errors.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) not in _MISSING_BUCKET_CODES:
                self._raise(exc, "bucket check", None)
            # Outside us-east-1, AWS refuses a bucket created without its location.
            region = self._client.meta.region_name
            location = (
                {"CreateBucketConfiguration": {"LocationConstraint": region}}
                if region and region not in ("us-east-1", "aws-global")
                else {}
            )
            try:
                self._client.create_bucket(Bucket=self.bucket, **location)
            except errors.ClientError as create_exc:
                code = str(create_exc.response.get("Error", {}).get("Code", ""))
                # Another process may have created it between our check and our create.
                if code != "BucketAlreadyOwnedByYou":
                    self._raise(create_exc, "bucket creation", None)
            except errors.BotoCoreError as create_exc:
                self._raise(create_exc, "bucket creation", None)
        except errors.BotoCoreError as exc:
            self._raise(exc, "bucket check", None)
        self._bucket_seen = True

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` in one request, replacing what was there.

        Raises:
            PermanentError: If the key is invalid.
            TransientError: On network trouble, throttling or a server error.
            ConfigError: If the bucket is missing or access is refused.
        """
        name = self._object_key(key)
        try:
            self._client.put_object(Bucket=self.bucket, Key=name, Body=data)
        except self._failures as exc:
            self._raise(exc, "put", key)

    def get(self, key: str) -> bytes:
        """Read the bytes under ``key``.

        Raises:
            KeyError: If there is none.
            TransientError: On network trouble, throttling or a server error.
            ConfigError: If the bucket is missing or access is refused.
        """
        name = self._object_key(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=name)
            body: bytes = response["Body"].read()
        except self._failures as exc:
            if self._is_missing(exc):
                raise KeyError(key) from None
            self._raise(exc, "get", key)
        return body

    def delete(self, key: str) -> None:
        """Remove ``key``; S3 answers success for a missing key, so this is idempotent.

        Raises:
            TransientError: On network trouble, throttling or a server error.
            ConfigError: If the bucket is missing or access is refused.
        """
        name = self._object_key(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=name)
        except self._failures as exc:
            self._raise(exc, "delete", key)

    def exists(self, key: str) -> bool:
        """Tell whether ``key`` holds bytes.

        Raises:
            TransientError: On network trouble, throttling or a server error.
            ConfigError: If the bucket is missing or access is refused.
        """
        name = self._object_key(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
        except self._failures as exc:
            if self._is_missing(exc):
                self._check_bucket()
                return False
            self._raise(exc, "exists", key)
        return True

    def move(self, src: str, dst: str) -> None:
        """Server-side copy from ``src`` to ``dst``, then delete ``src``; the bytes never leave S3.

        A crash between the two steps leaves the object under both keys, never under neither.
        A single ``CopyObject`` handles objects up to 5 GB, far above any media we keep.

        Raises:
            KeyError: If ``src`` holds nothing.
            TransientError: On network trouble, throttling or a server error.
            ConfigError: If the bucket is missing or access is refused.
        """
        src_name = self._object_key(src)
        dst_name = self._object_key(dst)
        try:
            self._client.copy_object(
                Bucket=self.bucket,
                Key=dst_name,
                CopySource={"Bucket": self.bucket, "Key": src_name},
            )
        except self._failures as exc:
            if self._is_missing(exc):
                raise KeyError(src) from None
            self._raise(exc, "move", src)
        self.delete(src)
